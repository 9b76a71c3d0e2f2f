// Examples → token ids for training: prompt and answer tokenized apart (so the prompt can
// be masked), the answer ended by EOS, and truncation that keeps the answer.
import type { PreferenceExample, SFTExample } from '../data/formats.js';
import { splitPromptCompletion } from '../tokenizers/chat-template.js';
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
  const { prompt, completion } = splitPromptCompletion(ex.messages, { eosToken: tok.eosToken });
  return { prompt, answer: completion, templated: true };
}

/** Token ids of a prompt (with BOS where the tokenizer has one) and an answer (with EOS). */
export function encodePromptAnswer(prompt: string, answer: string, tok: Tokenizer, templated = false): PromptAnswerIds {
  const p = tok.encode(prompt, { addSpecialTokens: true, allowSpecialTokens: templated });
  // A templated answer already ends with the EOS text, which allowSpecialTokens turns into EOS.
  const a = tok.encode(answer, { allowSpecialTokens: templated });
  if (a[a.length - 1] !== tok.eosTokenId) a.push(tok.eosTokenId);
  return { prompt: p, answer: a };
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

export function sftSequence(ex: SFTExample, tok: Tokenizer, maxLength: number, completionOnlyLoss: boolean): LabeledSequence {
  const { prompt, answer, templated } = promptAndAnswer(ex, tok);
  const t = truncateKeepingAnswer(encodePromptAnswer(prompt, answer, tok, templated), maxLength);
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
  for (let i = 0; i + maxLength <= ids.length; i += maxLength) blocks.push({ ids: ids.slice(i, i + maxLength), labels: labels.slice(i, i + maxLength) });
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
