// The math of Direct Preference Optimization, apart from any model so that it can be checked
// against hand-computed cases and TRL's own values: the log-probability of an answer under a
// model (summed over its tokens, or averaged for IPO), the three losses on the log-ratio of
// policy to reference (sigmoid with optional label smoothing, IPO, hinge), the implicit rewards
// β·(log π − log π_ref) and the metrics TRL logs for them.
import * as F from '../nn/functional.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { IGNORE_INDEX } from './tokenize.js';

export type DPOLossType = 'sigmoid' | 'ipo' | 'hinge';

export interface DPOLossOptions {
  /** β: how far the policy may move from the reference (IPO: its τ). */
  beta: number;
  lossType: DPOLossType;
  /** Robust DPO (cDPO): the assumed probability that a label is flipped; sigmoid loss only. */
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
 * shifted (position j holds token j+1, IGNORE_INDEX where nothing is scored) → (N,). With
 * `average`, the mean over the labeled tokens (what IPO uses) instead of the sum.
 */
export function sequenceLogps(logits: Tensor, labels: Tensor, average = false): Tensor {
  return tidy(() => {
    const [N, T, V] = logits.shape as [number, number, number];
    const nll = F.crossEntropy(logits.reshape(N * T, V), labels.reshape(N * T), { ignoreIndex: IGNORE_INDEX, reduction: 'none' });
    const sum = nll.view(N, T).sum(1).neg();
    return average ? sum.div(labels.ne(IGNORE_INDEX).sum(1).clamp(1)) : sum;
  });
}

/**
 * TRL's dpo_loss for sigmoid, IPO and hinge. With h = (log π_c − log π_r) − (log π_ref,c −
 * log π_ref,r) (the reference term dropped when referenceFree):
 * sigmoid −(1−ε)·log σ(βh) − ε·log σ(−βh); IPO (h − 1/(2β))²; hinge max(0, 1 − βh). The rewards
 * use the reference log-probs given, as TRL's do.
 */
export function dpoLoss(policy: PairLogps, reference: PairLogps, o: DPOLossOptions): DPOLossOutput {
  return tidy(() => {
    const logratios = policy.chosen.sub(policy.rejected);
    const h = o.referenceFree ? logratios : logratios.sub(reference.chosen.sub(reference.rejected));
    let losses: Tensor;
    if (o.lossType === 'sigmoid') {
      losses = h.mul(o.beta).logSigmoid().mul(-(1 - o.labelSmoothing));
      if (o.labelSmoothing > 0) losses = losses.sub(h.mul(-o.beta).logSigmoid().mul(o.labelSmoothing));
    } else if (o.lossType === 'ipo') losses = h.sub(1 / (2 * o.beta)).pow(2);
    else losses = h.mul(-o.beta).add(1).relu();
    return {
      losses,
      chosenRewards: policy.chosen.sub(reference.chosen).mul(o.beta).detach(),
      rejectedRewards: policy.rejected.sub(reference.rejected).mul(o.beta).detach(),
    };
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
 * TRL's logits/chosen and logits/rejected: the mean logit over the vocabulary and the labeled
 * positions of the first `B` rows (the chosen answers) and of the rest (the rejected ones).
 */
export function meanAnswerLogits(logits: Tensor, labels: Tensor, B: number): { chosen: number; rejected: number } {
  return tidy(() => {
    const mask = labels.ne(IGNORE_INDEX).unsqueeze(-1);
    const perRow = logits.detach().mul(mask).sum([1, 2]);
    const counts = mask.sum([1, 2]).mul(logits.shape[2]!);
    const mean = (start: number, n: number): number => perRow.narrow(0, start, n).sum().div(counts.narrow(0, start, n).sum().clamp(1)).item();
    return { chosen: mean(0, B), rejected: mean(B, perRow.shape[0]! - B) };
  });
}
