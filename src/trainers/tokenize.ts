// Examples → token ids for training: prompt and answer tokenized apart (so the prompt can
// be masked), the answer ended by EOS, and truncation that keeps the answer. Conversations go
// through the model's chat template (src/tokenizers/conversation.ts), and SFT trains on all of
// their assistant turns.
import type { PreferenceExample, PreferencePair, SFTExample } from '../data/formats.js';
import { encodeChatSplit, encodeConversation, splitConversation } from '../tokenizers/conversation.js';
import type { ChatMessage } from '../tokenizers/chat-template.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';

export interface PromptAnswerIds {
  prompt: number[];
  /** The answer's ids, ending with EOS. */
  answer: number[];
}

export const IGNORE_INDEX = -100;

/** A prompt and answer as texts: a conversation goes through the chat template. */
export function promptAndAnswer(ex: SFTExample, tok: Tokenizer): { prompt: string; answer: string; templated: boolean } {
  if (ex.kind === 'prompt-completion') return { prompt: ex.prompt, answer: ex.completion, templated: false };
  const { prompt, completion } = splitConversation(tok, ex.messages);
  return { prompt, answer: completion, templated: true };
}

/**
 * Token ids of a prompt (with BOS where the tokenizer has one) and an answer (with EOS). A
 * templated answer (from promptAndAnswer) ends its turn itself: the EOS text, or the model's
 * end of turn.
 */
export function encodePromptAnswer(prompt: string, answer: string, tok: Tokenizer, templated = false): PromptAnswerIds {
  if (templated) {
    const { prompt: p, completion } = encodeChatSplit(tok, prompt, answer);
    return { prompt: p, answer: completion };
  }
  const a = tok.encode(answer);
  if (a[a.length - 1] !== tok.eosTokenId) a.push(tok.eosTokenId);
  return { prompt: tok.encode(prompt, { addSpecialTokens: true }), answer: a };
}

/**
 * Fits prompt + answer into maxLength keeping the answer: prompt tokens are dropped from the
 * left first (the end of a prompt matters most); an answer longer than the room left keeps its
 * beginning. At least one prompt token stays, so the first answer token has a context.
 */
export function truncateKeepingAnswer(x: PromptAnswerIds, maxLength: number): PromptAnswerIds {
  if (x.prompt.length + x.answer.length <= maxLength) return x;
  const answer = x.answer.slice(0, Math.max(1, maxLength - 1));
  const room = Math.max(1, maxLength - answer.length);
  return { prompt: x.prompt.slice(-room), answer };
}

/** A training sequence and its labels (IGNORE_INDEX where no loss is taken). */
export interface LabeledSequence {
  ids: number[];
  labels: number[];
}

/**
 * A conversation's ids with the labels of its assistant turns. Truncation treats the last
 * assistant turn onwards as the answer to keep; earlier turns are trained where they survive.
 */
function conversationSequence(
  messages: readonly ChatMessage[],
  tok: Tokenizer,
  maxLength: number,
  completionOnlyLoss: boolean,
): LabeledSequence {
  const { ids, assistantMask } = encodeConversation(tok, messages);
  let start = assistantMask.lastIndexOf(true);
  while (start > 0 && assistantMask[start - 1]) start--;
  if (start < 0) throw new Error('sftSequence: the conversation has no assistant turn to train on');
  const t = truncateKeepingAnswer({ prompt: ids.slice(0, start), answer: ids.slice(start) }, maxLength);
  const dropped = start - t.prompt.length;
  const kept = [...t.prompt, ...t.answer];
  return { ids: kept, labels: completionOnlyLoss ? kept.map((id, i) => (assistantMask[dropped + i] ? id : IGNORE_INDEX)) : [...kept] };
}

export function sftSequence(ex: SFTExample, tok: Tokenizer, maxLength: number, completionOnlyLoss: boolean): LabeledSequence {
  if (ex.kind === 'messages') return conversationSequence(ex.messages, tok, maxLength, completionOnlyLoss);
  const t = truncateKeepingAnswer(encodePromptAnswer(ex.prompt, ex.completion, tok), maxLength);
  const ids = [...t.prompt, ...t.answer];
  const labels = completionOnlyLoss ? [...t.prompt.map(() => IGNORE_INDEX), ...t.answer] : [...ids];
  return { ids, labels };
}

/**
 * Packing: concatenates sequences into blocks of exactly `maxLength` tokens (the last partial
 * block is dropped unless it is the only one), so no compute is spent on padding. Tokens may
 * attend across an example boundary within a block, as in TRL's classic packing.
 */
export function pack(seqs: LabeledSequence[], maxLength: number): LabeledSequence[] {
  const ids: number[] = [];
  const labels: number[] = [];
  for (const s of seqs) {
    ids.push(...s.ids);
    labels.push(...s.labels);
  }
  const blocks: LabeledSequence[] = [];
  for (let i = 0; i + maxLength <= ids.length; i += maxLength)
    blocks.push({ ids: ids.slice(i, i + maxLength), labels: labels.slice(i, i + maxLength) });
  if (blocks.length === 0 && ids.length > 0) blocks.push({ ids, labels });
  return blocks;
}

/** A preference example as full sequences (prompt + answer + EOS), best answer first. */
export function rankedSequences(ex: PreferenceExample, tok: Tokenizer, maxLength: number): number[][] {
  return ex.completions.map((c) => {
    const t = truncateKeepingAnswer(encodePromptAnswer(ex.prompt, c, tok), maxLength);
    return [...t.prompt, ...t.answer];
  });
}

/** A DPO pair's prompt and answers as texts: conversations through the chat template, as SFT's. */
export function pairTexts(ex: PreferencePair, tok: Tokenizer): { prompt: string; chosen: string; rejected: string; templated: boolean } {
  if (ex.kind === 'text') return { prompt: ex.prompt, chosen: ex.chosen, rejected: ex.rejected, templated: false };
  const chosen = splitConversation(tok, [...ex.prompt, ex.chosen]);
  const rejected = splitConversation(tok, [...ex.prompt, ex.rejected]);
  return { prompt: chosen.prompt, chosen: chosen.completion, rejected: rejected.completion, templated: true };
}

/**
 * A DPO pair as two labeled sequences with one shared prompt (labels IGNORE_INDEX on it): the
 * prompt is cut from the left so that the longer answer fits in maxLength, as
 * truncateKeepingAnswer does for one answer, and each answer keeps what fits after it.
 */
export function pairSequences(
  ex: PreferencePair,
  tok: Tokenizer,
  maxLength: number,
): { chosen: LabeledSequence; rejected: LabeledSequence } {
  const t = pairTexts(ex, tok);
  const [chosen, rejected] = [t.chosen, t.rejected].map((a) => encodePromptAnswer(t.prompt, a, tok, t.templated)) as [
    PromptAnswerIds,
    PromptAnswerIds,
  ];
  const prompt = truncateKeepingAnswer(chosen.answer.length >= rejected.answer.length ? chosen : rejected, maxLength).prompt;
  const sequence = (x: PromptAnswerIds): LabeledSequence => {
    const answer = x.answer.slice(0, maxLength - prompt.length);
    return { ids: [...prompt, ...answer], labels: [...prompt.map(() => IGNORE_INDEX), ...answer] };
  };
  return { chosen: sequence(chosen), rejected: sequence(rejected) };
}
