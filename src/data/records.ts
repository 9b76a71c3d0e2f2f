// Records given in code, as the trainers' datasets: the same TRL row shapes that the JSONL
// files hold ({prompt, completion}, {messages}, {prompt, chosen, rejected}, {prompt,
// completions}, {prompt, ...columns}), validated by the same parsers as a file's lines, so a bad
// record fails with `index N: field …` as a bad line fails with `file:line: field …`. The
// normalized examples that the loaders return (SFTExample, PreferencePair, …) are accepted too,
// so `loadSFTDataset(path).examples` can be passed straight on.
import type { ChatMessage } from '../tokenizers/chat-template.js';
import { exampleParsers, type PreferenceExample, type PreferencePair, type PromptExample, type SFTExample } from './formats.js';

/** An SFT row as in TRL: `{prompt, completion}` (prompt–completion) or `{messages}` (conversational). */
export type SFTRecord = { prompt: string; completion: string } | { messages: readonly ChatMessage[] };

/** A reward-model row: pairwise `{prompt, chosen, rejected}` or ranked `{prompt, completions: [best, …, worst]}`. */
export type PreferenceRecord = { prompt: string; chosen: string; rejected: string } | { prompt: string; completions: readonly string[] };

/**
 * A DPO row as in TRL: texts `{prompt, chosen, rejected}`, conversational with an explicit
 * prompt `{prompt: messages, chosen: [reply], rejected: [reply]}`, or with an implicit one
 * `{chosen: messages, rejected: messages}` (their shared leading messages are the prompt).
 */
export type PreferencePairRecord =
  | { prompt: string; chosen: string; rejected: string }
  | { prompt: readonly ChatMessage[]; chosen: readonly ChatMessage[]; rejected: readonly ChatMessage[] }
  | { chosen: readonly ChatMessage[]; rejected: readonly ChatMessage[] };

/**
 * A prompt row: `{prompt}` as a text or a conversation (TRL's conversational prompt, a list of
 * {role, content} ending with the user's turn), and any other fields, which reward functions get
 * as columns (an `answer` to check, say).
 */
export type PromptRecord = { prompt: string | readonly ChatMessage[]; [column: string]: unknown };

/** What the trainers take as SFT data: TRL rows or loaded examples. */
export type SFTData = readonly (SFTRecord | SFTExample)[];
/** What the reward trainer takes as rankings: TRL rows or loaded examples. */
export type PreferenceData = readonly (PreferenceRecord | PreferenceExample)[];
/** What the DPO trainer takes as pairs: TRL rows or loaded pairs. */
export type PreferencePairData = readonly (PreferencePairRecord | PreferencePair)[];
/** What the online trainers take as prompts: TRL rows or loaded prompts. */
export type PromptData = readonly (PromptRecord | PromptExample)[];

function isObject(x: unknown): x is Record<string, unknown> {
  return x !== null && typeof x === 'object' && !Array.isArray(x);
}

/**
 * Validates every record with `parse`; a bad one throws `${where}: index N: reason`, N being
 * its 0-based position in the array. `where` names the option, e.g. 'SFTTrainer trainDataset'.
 */
export function parseRecords<T>(records: unknown, parse: (value: unknown) => T, where: string): T[] {
  if (!Array.isArray(records))
    throw new Error(`${where}: expected an array of records (got ${records === null ? 'null' : typeof records})`);
  return records.map((r: unknown, i) => {
    try {
      return parse(r);
    } catch (e) {
      throw new Error(`${where}: index ${i}: ${(e as Error).message}`, { cause: e });
    }
  });
}

/** A loaded conversational pair ({kind: 'messages'}, single replies) back in TRL's row shape. */
function pairRow(r: unknown): unknown {
  if (!isObject(r) || r['kind'] !== 'messages' || Array.isArray(r['chosen']) || Array.isArray(r['rejected'])) return r;
  return { prompt: r['prompt'], chosen: [r['chosen']], rejected: [r['rejected']] };
}

/** A loaded prompt ({prompt, columns: {…}}) back in TRL's row shape, its columns beside the prompt. */
function promptRow(r: unknown): unknown {
  if (!isObject(r) || !isObject(r['columns'])) return r;
  const { columns, ...rest } = r;
  return { ...(columns as Record<string, unknown>), ...rest };
}

export const parseSFTRecords = (records: unknown, where: string): SFTExample[] => parseRecords(records, exampleParsers.sft, where);
export const parsePreferenceRecords = (records: unknown, where: string): PreferenceExample[] =>
  parseRecords(records, exampleParsers.preference, where);
export const parsePreferencePairRecords = (records: unknown, where: string): PreferencePair[] =>
  parseRecords(records, (r) => exampleParsers.pair(pairRow(r)), where);
export const parsePromptRecords = (records: unknown, where: string): PromptExample[] =>
  parseRecords(records, (r) => exampleParsers.prompt(promptRow(r)), where);
