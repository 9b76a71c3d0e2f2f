// The math of Direct Preference Optimization, apart from any model so that it can be checked
// against hand-computed cases and TRL's own values: the log-probability of an answer under a
// model (summed over its tokens), the losses on the log-ratio of policy to reference as TRL 1.13
// computes them (sigmoid, robust with label smoothing, IPO on per-token log-ratios, hinge, and
// 'sft', the chosen answers' negative log-likelihood), several of them combined with weights as
// TRL's list-valued loss_type does (RPO is ['sigmoid', 'sft']), the implicit rewards
// β·(log π − log π_ref) and the metrics TRL logs for them.
import * as F from '../nn/functional.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { IGNORE_INDEX } from './tokenize.js';

export type DPOLossType = 'sigmoid' | 'robust' | 'ipo' | 'hinge' | 'sft';
export const DPO_LOSS_TYPES: readonly DPOLossType[] = ['sigmoid', 'robust', 'ipo', 'hinge', 'sft'];

export interface DPOLossOptions {
  /** β: how far the policy may move from the reference (IPO: its τ). */
  beta: number;
  /** One loss, or several summed with `lossWeights` (TRL's list-valued loss_type). */
  lossType: DPOLossType | readonly DPOLossType[];
  /** One weight per entry of lossType; null: all 1. */
  lossWeights?: readonly number[] | null;
  /** Robust DPO: the assumed probability that a pair's labels are flipped ('robust' only, as in TRL). */
  labelSmoothing: number;
  /** Ignore the reference in the loss (a reference giving every answer the same probability). */
  referenceFree: boolean;
}

/** Per-answer log-probabilities (B,) of the chosen and the rejected answers. */
export interface PairLogps {
  chosen: Tensor;
  rejected: Tensor;
}

export interface DPOLossOutput {
  /** The loss of each pair (B,); the training loss is their mean. */
  losses: Tensor;
  /** β·(log π − log π_ref) of each answer, without gradient. */
  chosenRewards: Tensor;
  rejectedRewards: Tensor;
}

/**
 * Log-probability of each sequence's labeled tokens: logits (N, T, V) and labels (N, T) already
 * shifted (position j holds token j+1, IGNORE_INDEX where nothing is scored) → (N,), summed.
 */
export function sequenceLogps(logits: Tensor, labels: Tensor): Tensor {
  return tidy(() => {
    const [N, T, V] = logits.shape as [number, number, number];
    const nll = F.crossEntropy(logits.reshape(N * T, V), labels.reshape(N * T), { ignoreIndex: IGNORE_INDEX, reduction: 'none' });
    return nll.view(N, T).sum(1).neg();
  });
}

/** How many tokens of each sequence are scored (N,): the answer lengths IPO divides by. */
export const answerLengths = (labels: Tensor): Tensor => tidy(() => labels.ne(IGNORE_INDEX).sum(1).float());

/**
 * TRL 1.13's DPO losses. With the log-ratios r = log π − log π_ref of each answer (log π_ref = 0
 * when referenceFree) and h = r_c − r_r: sigmoid −log σ(βh); robust (−(1−ε)·log σ(βh) +
 * ε·log σ(−βh)) / (1 − 2ε); IPO (r_c/n_c − r_r/n_r − 1/(2β))² with n the answers' token counts;
 * hinge max(0, 1 − βh); sft the chosen answers' mean token negative log-likelihood over the
 * batch (Σ −log π_c / Σ n_c, the same for every pair, as TRL's cross-entropy). `lengths` (the
 * token counts) is required for IPO and sft. Several loss types add up, each times its weight.
 * The rewards are β·r.
 */
export function dpoLoss(policy: PairLogps, reference: PairLogps, o: DPOLossOptions, lengths?: PairLogps): DPOLossOutput {
  return tidy(() => {
    const ratio = (side: 'chosen' | 'rejected'): Tensor => (o.referenceFree ? policy[side] : policy[side].sub(reference[side]));
    const [rc, rr] = [ratio('chosen'), ratio('rejected')];
    const h = rc.sub(rr);
    const needLengths = (type: DPOLossType): PairLogps => {
      if (!lengths) throw new Error(`dpoLoss: the '${type}' loss needs the answers' token counts (lengths)`);
      return lengths;
    };
    const one = (type: DPOLossType): Tensor => {
      if (type === 'sigmoid') return h.mul(o.beta).logSigmoid().neg();
      if (type === 'robust') {
        const e = o.labelSmoothing;
        return h
          .mul(o.beta)
          .logSigmoid()
          .mul(-(1 - e))
          .add(h.mul(-o.beta).logSigmoid().mul(e))
          .div(1 - 2 * e);
      }
      if (type === 'ipo') {
        const n = needLengths(type);
        return rc
          .div(n.chosen)
          .sub(rr.div(n.rejected))
          .sub(1 / (2 * o.beta))
          .pow(2);
      }
      if (type === 'sft') return policy.chosen.sum().neg().div(needLengths(type).chosen.sum()).expand(policy.chosen.shape[0]!);
      return h.mul(-o.beta).add(1).relu();
    };
    const types = typeof o.lossType === 'string' ? [o.lossType] : o.lossType;
    const weights = o.lossWeights ?? types.map(() => 1);
    if (weights.length !== types.length)
      throw new Error(`dpoLoss: ${weights.length} lossWeights for ${types.length} loss types; give one weight per type`);
    const losses = types.map((t, i) => one(t).mul(weights[i]!)).reduce((a, b) => a.add(b));
    return { losses, chosenRewards: rc.mul(o.beta).detach(), rejectedRewards: rr.mul(o.beta).detach() };
  });
}

/** TRL's DPO metrics of a batch: the rewards, their accuracy and margin, and the policy's log-probs. */
export function dpoMetrics(policy: PairLogps, out: DPOLossOutput): Record<string, number> {
  return tidy(() => ({
    'rewards/chosen': out.chosenRewards.mean().item(),
    'rewards/rejected': out.rejectedRewards.mean().item(),
    'rewards/accuracies': out.chosenRewards.gt(out.rejectedRewards).float().mean().item(),
    'rewards/margins': out.chosenRewards.sub(out.rejectedRewards).mean().item(),
    'logps/chosen': policy.chosen.detach().mean().item(),
    'logps/rejected': policy.rejected.detach().mean().item(),
  }));
}

/**
 * Per-position statistics of the next-token distributions, (N, T) each, from which TRL's DPO
 * logs its logits/*, entropy and mean_token_accuracy: the sum of the logits over the vocabulary,
 * the entropy and the most likely token. The trainer gets them from the chunked LM head
 * (lmHeadLogprobs with logitSum, entropy, argmax); `answerTokenStats` from full logits.
 */
export interface AnswerTokenStats {
  logitSum: Tensor;
  entropy: Tensor;
  argmax: Tensor;
}

/** The statistics of logits (N, T, V), without gradient. */
export function answerTokenStats(logits: Tensor): AnswerTokenStats {
  return tidy(() => {
    const z = logits.detach().float();
    const logp = z.logSoftmax(-1);
    return { logitSum: z.sum(-1), entropy: logp.exp().mul(logp).sum(-1).neg(), argmax: logp.argmax(-1) };
  });
}

/**
 * TRL's logits/chosen and logits/rejected: the mean logit over the vocabulary (of `vocabSize`
 * ids) and the labeled positions of the first `B` rows (the chosen answers) and of the rest
 * (the rejected ones).
 */
export function meanAnswerLogits(
  stats: Pick<AnswerTokenStats, 'logitSum'>,
  labels: Tensor,
  B: number,
  vocabSize: number,
): { chosen: number; rejected: number } {
  return tidy(() => {
    const mask = labels.ne(IGNORE_INDEX);
    const perRow = stats.logitSum.detach().mul(mask).sum(1);
    const counts = mask.sum(1).mul(vocabSize);
    const mean = (start: number, n: number): number =>
      perRow
        .narrow(0, start, n)
        .sum()
        .div(counts.narrow(0, start, n).sum().clamp(1))
        .item();
    return { chosen: mean(0, B), rejected: mean(B, perRow.shape[0]! - B) };
  });
}

/**
 * TRL's entropy and mean_token_accuracy of a DPO batch: the mean entropy of the next-token
 * distribution over every labeled position (chosen and rejected answers), and the share of the
 * chosen answers' tokens (the first `B` rows) that are the distribution's argmax.
 */
export function answerTokenMetrics(
  stats: Pick<AnswerTokenStats, 'entropy' | 'argmax'>,
  labels: Tensor,
  B: number,
): { entropy: number; meanTokenAccuracy: number } {
  return tidy(() => {
    const mask = labels.ne(IGNORE_INDEX);
    const entropy = stats.entropy.detach().mul(mask).sum().div(mask.sum().clamp(1)).item();
    const chosenMask = mask.narrow(0, 0, B);
    const right = stats.argmax
      .narrow(0, 0, B)
      .eq(labels.narrow(0, 0, B))
      .logicalAnd(chosenMask);
    return { entropy, meanTokenAccuracy: right.sum().float().div(chosenMask.sum().clamp(1)).item() };
  });
}
