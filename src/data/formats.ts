// The records of the three RLHF stages, in TRL's JSONL formats, and their validators. Each
// validator turns one parsed JSON value into a normalized example or throws an Error whose
// message names the offending field; the dataset loaders prefix it with file:line. Extra fields
// are ignored: TRL datasets carry ids, scores and the like.
import type { ChatMessage } from '../tokenizers/index.js';

/** An SFT example: a prompt and the completion to train on, or a conversation ending with the assistant's reply. */
export type SFTExample = { kind: 'prompt-completion'; prompt: string; completion: string } | { kind: 'messages'; messages: ChatMessage[] };

/**
 * A preference example: answers to one prompt ranked best to worst (at least two, all
 * distinct). A pairwise record {prompt, chosen, rejected} becomes completions [chosen, rejected].
 */
export interface PreferenceExample {
  prompt: string;
  completions: string[];
}

/**
 * A DPO preference pair: one prompt with a chosen and a rejected answer, as texts
 * ({prompt, chosen, rejected}) or as chat messages (the prompt's messages and one assistant
 * reply each), from TRL's conversational formats with an explicit or an implicit prompt.
 */
export type PreferencePair =
  | { kind: 'text'; prompt: string; chosen: string; rejected: string }
  | { kind: 'messages'; prompt: ChatMessage[]; chosen: ChatMessage; rejected: ChatMessage };

/**
 * A prompt for the online trainers: a text, or a conversation (TRL's conversational prompt, its
 * last message the user's), which is rendered with the model's chat template.
 */
export interface PromptExample {
  prompt: string | ChatMessage[];
  /** The row's other fields (an `answer` to check against, say): reward functions get them as columns. */
  columns?: Record<string, unknown>;
}

const ROLES: readonly string[] = ['system', 'user', 'assistant'];

function isObject(x: unknown): x is Record<string, unknown> {
  return x !== null && typeof x === 'object' && !Array.isArray(x);
}

function kindOf(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  return typeof x;
}

/**
 * A prompt or a chat turn must be a string with some non-whitespace in it: an empty one is almost
 * always a broken export. An answer (`answer: true`: a completion, chosen, rejected) may be empty,
 * as in TRL: an empty completion teaches the model to stop at once.
 */
function text(value: unknown, field: string, answer = false): string {
  const base = `field '${field}' must be a ${answer ? '' : 'non-empty '}string`;
  if (value === undefined) throw new Error(`${base} (missing)`);
  if (typeof value !== 'string') {
    // TRL's conversational prompt/completion and preference formats hold lists of messages.
    const hint = Array.isArray(value)
      ? "; conversational lists are supported in SFT's 'messages', DPO's pairs and the online trainers' 'prompt'"
      : '';
    throw new Error(`${base} (got ${kindOf(value)}${hint})`);
  }
  if (answer) return value;
  if (value === '') throw new Error(`${base} (got an empty string)`);
  if (value.trim() === '') throw new Error(`${base} (got only whitespace)`);
  return value;
}

function has(record: Record<string, unknown>, key: string): boolean {
  return Object.hasOwn(record, key);
}

/** The record's own field (never one inherited from Object.prototype, e.g. 'constructor'). */
function get(record: Record<string, unknown>, key: string): unknown {
  return has(record, key) ? record[key] : undefined;
}

/** A list of chat messages in `field`; by default it must end with the assistant's reply. */
function parseMessages(value: unknown, field = 'messages', endsWithReply = true): ChatMessage[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new Error(
      `field '${field}' must be a non-empty array of {role, content} (got ${Array.isArray(value) ? 'an empty array' : kindOf(value)})`,
    );
  }
  const messages = value.map((m: unknown, i): ChatMessage => {
    if (!isObject(m)) throw new Error(`field '${field}[${i}]' must be an object {role, content} (got ${kindOf(m)})`);
    const role = get(m, 'role');
    if (typeof role !== 'string' || !ROLES.includes(role)) {
      throw new Error(
        `field '${field}[${i}].role' must be 'system', 'user' or 'assistant' ` +
          `(${role === undefined ? 'missing' : `got ${JSON.stringify(role)}`})`,
      );
    }
    if (role === 'system' && i !== 0)
      throw new Error(`field '${field}[${i}].role' is 'system', but only the first message may be a system message`);
    return { role: role as ChatMessage['role'], content: text(get(m, 'content'), `${field}[${i}].content`, role === 'assistant') };
  });
  const last = messages[messages.length - 1] as ChatMessage;
  if (endsWithReply && last.role !== 'assistant') {
    throw new Error(`field '${field}' must end with an assistant message, the reply to train on (the last one is '${last.role}')`);
  }
  return messages;
}

/**
 * Validates an SFT record: {prompt, completion} or {messages}. When 'messages' is present it
 * wins and a 'prompt' beside it is ignored (HF chat datasets such as ultrachat_200k carry both).
 */
export function parseSFTExample(value: unknown): SFTExample {
  const expected = "expected an object with 'prompt' and 'completion' or 'messages'";
  if (!isObject(value)) throw new Error(`${expected} (got ${kindOf(value)})`);
  if (has(value, 'messages')) return { kind: 'messages', messages: parseMessages(get(value, 'messages')) };
  if (!has(value, 'prompt') && !has(value, 'completion')) throw new Error(`${expected} (got neither)`);
  return {
    kind: 'prompt-completion',
    prompt: text(get(value, 'prompt'), 'prompt'),
    completion: text(get(value, 'completion'), 'completion', true),
  };
}

/**
 * Validates a preference record, pairwise {prompt, chosen, rejected} or ranked
 * {prompt, completions: [best, …, worst]}, detected per record. Equal answers are rejected:
 * a tie says nothing about which is better, and would train the reward model on noise.
 */
export function parsePreferenceExample(value: unknown): PreferenceExample {
  const expected = "expected an object with 'prompt' and either 'chosen' and 'rejected', or 'completions'";
  if (!isObject(value)) throw new Error(`${expected} (got ${kindOf(value)})`);
  const ranked = has(value, 'completions');
  const pairwise = has(value, 'chosen') || has(value, 'rejected');
  if (ranked && pairwise) throw new Error(`${expected} (got both 'completions' and 'chosen'/'rejected'; which one is meant?)`);
  if (!ranked && !pairwise) throw new Error(`${expected} (got neither)`);
  const prompt = text(get(value, 'prompt'), 'prompt');
  if (pairwise) {
    const chosen = text(get(value, 'chosen'), 'chosen', true);
    const rejected = text(get(value, 'rejected'), 'rejected', true);
    if (chosen === rejected) throw new Error("field 'rejected' is the same as 'chosen' (a tie says nothing)");
    return { prompt, completions: [chosen, rejected] };
  }
  const list = get(value, 'completions');
  if (!Array.isArray(list)) throw new Error(`field 'completions' must be an array of answers ranked best to worst (got ${kindOf(list)})`);
  if (list.length < 2) throw new Error(`field 'completions' must list at least 2 answers (got ${list.length})`);
  const completions = list.map((c: unknown, i) => text(c, `completions[${i}]`, true));
  const firstIndex = new Map<string, number>();
  completions.forEach((c, i) => {
    const first = firstIndex.get(c);
    if (first !== undefined) throw new Error(`field 'completions[${i}]' is the same as 'completions[${first}]' (a tie says nothing)`);
    firstIndex.set(c, i);
  });
  return { prompt, completions };
}

/** A conversational prompt, checked to end with the user's turn (the model writes the reply). */
function userTurnLast(prompt: ChatMessage[]): ChatMessage[] {
  if (prompt[prompt.length - 1]!.role === 'assistant')
    throw new Error("field 'prompt' must end with the user's turn, not an assistant message");
  return prompt;
}

const sameMessage = (a: ChatMessage, b: ChatMessage): boolean => a.role === b.role && a.content === b.content;

/** The one assistant message a conversational answer must be after its prompt. */
function reply(rest: ChatMessage[], field: string): ChatMessage {
  if (rest.length !== 1 || rest[0]!.role !== 'assistant')
    throw new Error(`field '${field}' must add one assistant message to the prompt, the reply (got ${rest.length} message(s) after it)`);
  return rest[0]!;
}

/**
 * Validates a DPO record: {prompt, chosen, rejected} as texts, {prompt: messages, chosen:
 * [reply], rejected: [reply]}, or {chosen: messages, rejected: messages} whose shared leading
 * messages are the prompt (TRL's implicit prompt). Equal answers are rejected (a tie says nothing).
 */
export function parsePreferencePair(value: unknown): PreferencePair {
  const expected = "expected an object with 'chosen' and 'rejected' (and 'prompt', which conversations may leave implicit)";
  if (!isObject(value)) throw new Error(`${expected} (got ${kindOf(value)})`);
  if (!has(value, 'chosen') && !has(value, 'rejected')) throw new Error(`${expected} (got neither)`);
  const [chosenValue, rejectedValue] = [get(value, 'chosen'), get(value, 'rejected')];
  if (!Array.isArray(chosenValue) && !Array.isArray(rejectedValue)) {
    const prompt = text(get(value, 'prompt'), 'prompt');
    const chosen = text(chosenValue, 'chosen', true);
    const rejected = text(rejectedValue, 'rejected', true);
    if (chosen === rejected) throw new Error("field 'rejected' is the same as 'chosen' (a tie says nothing)");
    return { kind: 'text', prompt, chosen, rejected };
  }
  const explicit = has(value, 'prompt');
  const prompt = explicit ? parseMessages(get(value, 'prompt'), 'prompt', false) : [];
  const chosenAll = parseMessages(chosenValue, 'chosen');
  const rejectedAll = parseMessages(rejectedValue, 'rejected');
  let shared = 0;
  if (!explicit) {
    while (shared < Math.min(chosenAll.length, rejectedAll.length) - 1 && sameMessage(chosenAll[shared]!, rejectedAll[shared]!)) shared++;
    if (shared === 0) throw new Error("fields 'chosen' and 'rejected' share no leading messages, the prompt (give it as 'prompt')");
    prompt.push(...chosenAll.slice(0, shared));
  }
  const chosen = reply(chosenAll.slice(shared), 'chosen');
  const rejected = reply(rejectedAll.slice(shared), 'rejected');
  userTurnLast(prompt);
  if (sameMessage(chosen, rejected)) throw new Error("field 'rejected' is the same as 'chosen' (a tie says nothing)");
  return { kind: 'messages', prompt, chosen, rejected };
}

/** Validates a prompt record of the online trainers: {prompt} as a text or a conversation, and other columns. */
export function parsePromptExample(value: unknown): PromptExample {
  if (!isObject(value)) throw new Error(`expected an object with 'prompt' (got ${kindOf(value)})`);
  const raw = get(value, 'prompt');
  const prompt = Array.isArray(raw) ? userTurnLast(parseMessages(raw, 'prompt', false)) : text(raw, 'prompt');
  const columns = Object.fromEntries(Object.entries(value).filter(([k]) => k !== 'prompt'));
  return Object.keys(columns).length ? { prompt, columns } : { prompt };
}

/** The parser of each row kind, one table for the JSONL loaders (datasets.ts) and the in-code records (records.ts). */
export const exampleParsers = {
  sft: parseSFTExample,
  preference: parsePreferenceExample,
  pair: parsePreferencePair,
  prompt: parsePromptExample,
} as const;

const blank = (answer: string): boolean => answer.trim() === '';

/**
 * Whether an example holds an empty (or whitespace-only) answer: accepted, as in TRL, but the
 * commands count such rows in their summaries, so a broken export does not go unnoticed.
 */
export function hasEmptyAnswer(x: SFTExample | PreferenceExample | PreferencePair): boolean {
  if ('completions' in x) return x.completions.some(blank);
  if (x.kind === 'prompt-completion') return blank(x.completion);
  if (x.kind === 'text') return blank(x.chosen) || blank(x.rejected);
  if ('messages' in x) return x.messages.some((m) => m.role === 'assistant' && blank(m.content));
  return blank(x.chosen.content) || blank(x.rejected.content);
}
