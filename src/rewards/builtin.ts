// The built-in programmatic rewards, as TRL users write them by hand: exact match of the
// completion's answer against a column of the prompt rows (verifiable tasks such as arithmetic
// or GSM8K), a regular-expression format check, and a penalty on completions longer than a
// token budget. Each factory checks its options at once, with an error that names the reward
// and the option, and returns a RewardFunction labelled by `rewardName`. builtinReward picks
// one by a short spec string, for the command line (`exact-match:answer`, `format:^\d+$`,
// `length:32`).
import { completionText, type RewardFunction, type RewardInputs, type RewardScores } from './types.js';

/** A reward whose scores come back synchronously (all the built-in ones); a RewardFunction. */
export type SyncRewardFunction = ((inputs: RewardInputs) => RewardScores) & Pick<RewardFunction, 'rewardName' | 'requiredColumns'>;

export interface ExactMatchOptions {
  /** The prompt rows' column holding the reference answer. Default 'answer'. */
  column?: string;
  /**
   * How to find the answer in a completion: a RegExp (its first capture group, or the whole
   * match when it has none), or a function returning the answer or null. No match scores 0.
   * Default: the whole completion.
   */
  extract?: RegExp | ((text: string) => string | null);
  /** Applied to both the extracted answer and the reference after trimming (e.g. lower-casing). */
  normalize?: (text: string) => string;
}

export interface FormatMatchOptions {
  /** Ignore whitespace around the completion (a byte-level completion often starts with a space). Default true. */
  trim?: boolean;
}

export interface LengthPenaltyOptions {
  /** Completions of up to this many tokens are not penalised. */
  maxLength: number;
  /** The penalty per token beyond maxLength. Default 1 / maxLength: a completion twice the budget scores −1. */
  penalty?: number;
}

function checkOptions(reward: string, options: object, known: readonly string[]): void {
  if (options === null || typeof options !== 'object')
    throw new TypeError(`${reward}: options must be an object, got ${options === null ? 'null' : typeof options}`);
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw new TypeError(`${reward}: unknown option '${key}' (options: ${known.join(', ')})`);
  }
}

function named(fn: (inputs: RewardInputs) => RewardScores, name: string): SyncRewardFunction {
  return Object.assign(fn, { rewardName: name });
}

/** A regular expression without the flags that make `test`/`exec` stateful. */
function stateless(re: RegExp): RegExp {
  return re.global || re.sticky ? new RegExp(re.source, re.flags.replace(/[gy]/g, '')) : re;
}

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** Two answers agree as numbers when both are numbers (so "42.0" equals "42"), otherwise as strings. */
function sameAnswer(a: string, b: string): boolean {
  if (NUMBER.test(a) && NUMBER.test(b)) return Number(a) === Number(b);
  return a === b;
}

/**
 * 1 when the completion's answer equals the row's `column` value, 0 when it does not (or none is
 * found), null for a row without a value (missing, null or an empty string). Both sides are
 * trimmed, then normalized; numbers compare as numbers when both parse.
 */
export function exactMatch(options: ExactMatchOptions = {}): SyncRewardFunction {
  const reward = 'exactMatch';
  checkOptions(reward, options, ['column', 'extract', 'normalize']);
  const column = options.column ?? 'answer';
  if (typeof column !== 'string' || column === '')
    throw new TypeError(`${reward}: option 'column' must be a non-empty string, got ${JSON.stringify(column)}`);
  if (['prompts', 'completions', 'completionIds'].includes(column))
    throw new TypeError(`${reward}: option 'column' must name a column of the prompt rows, not '${column}'`);
  const { extract, normalize = (s: string) => s } = options;
  if (extract !== undefined && !(extract instanceof RegExp) && typeof extract !== 'function')
    throw new TypeError(`${reward}: option 'extract' must be a RegExp or a function, got ${typeof extract}`);
  if (typeof normalize !== 'function') throw new TypeError(`${reward}: option 'normalize' must be a function, got ${typeof normalize}`);
  const pattern = extract instanceof RegExp ? stateless(extract) : undefined;
  const find = (text: string): string | null => {
    if (pattern) {
      const m = pattern.exec(text);
      return m === null ? null : (m[1] ?? m[0]);
    }
    return typeof extract === 'function' ? extract(text) : text;
  };

  const fn = named((inputs) => {
    const refs = inputs[column];
    if (!Array.isArray(refs)) {
      const columns = Object.keys(inputs).filter((k) => !['prompts', 'completions', 'completionIds'].includes(k));
      throw new Error(
        `${reward}: the prompt rows have no '${column}' column (columns: ${columns.length > 0 ? columns.join(', ') : 'none'})`,
      );
    }
    return inputs.completions.map((completion, i) => {
      const ref = refs[i];
      if (ref === undefined || ref === null || ref === '') return null;
      if (typeof ref !== 'string' && !(typeof ref === 'number' && Number.isFinite(ref))) {
        throw new TypeError(`${reward}: sample ${i}: column '${column}' must hold a string or a finite number, got ${JSON.stringify(ref)}`);
      }
      const found = find(completionText(completion));
      if (found === null) return 0;
      return sameAnswer(normalize(found.trim()), normalize(String(ref).trim())) ? 1 : 0;
    });
  }, 'exact_match');
  return Object.assign(fn, { requiredColumns: [column] });
}

/**
 * 1 when the whole completion matches `pattern`, 0 otherwise: the pattern is anchored as
 * `^(?:pattern)$` (anchors of its own are harmless), and the completion is trimmed first unless
 * `trim: false`. A string pattern is compiled with `new RegExp`; a RegExp keeps its flags (but
 * `g` and `y`, which would make matching stateful).
 */
export function formatMatch(pattern: RegExp | string, options: FormatMatchOptions = {}): SyncRewardFunction {
  const reward = 'formatMatch';
  checkOptions(reward, options, ['trim']);
  const trim = options.trim ?? true;
  if (typeof trim !== 'boolean') throw new TypeError(`${reward}: option 'trim' must be true or false, got ${JSON.stringify(trim)}`);
  let re: RegExp;
  if (pattern instanceof RegExp) re = new RegExp(`^(?:${pattern.source})$`, pattern.flags.replace(/[gy]/g, ''));
  else if (typeof pattern === 'string' && pattern !== '') {
    try {
      re = new RegExp(`^(?:${pattern})$`);
    } catch (e) {
      throw new SyntaxError(`${reward}: pattern ${JSON.stringify(pattern)} is not a valid regular expression (${(e as Error).message})`);
    }
  } else throw new TypeError(`${reward}: pattern must be a RegExp or a non-empty string, got ${JSON.stringify(pattern)}`);
  return named(
    (inputs) =>
      inputs.completions.map((completion) => {
        const c = completionText(completion);
        return re.test(trim ? c.trim() : c) ? 1 : 0;
      }),
    'format',
  );
}

/**
 * A soft length penalty on completion tokens (`completionIds[i].length`, as the trainer passes
 * them): 0 up to `maxLength` tokens, then −penalty for every token beyond.
 */
export function lengthPenalty(options: LengthPenaltyOptions): SyncRewardFunction {
  const reward = 'lengthPenalty';
  checkOptions(reward, options, ['maxLength', 'penalty']);
  const { maxLength } = options;
  if (!Number.isInteger(maxLength) || maxLength < 1)
    throw new RangeError(`${reward}: option 'maxLength' must be a positive integer, got ${JSON.stringify(maxLength)}`);
  const penalty = options.penalty ?? 1 / maxLength;
  if (typeof penalty !== 'number' || !Number.isFinite(penalty) || penalty <= 0)
    throw new RangeError(`${reward}: option 'penalty' must be a positive finite number, got ${JSON.stringify(penalty)}`);
  // `0 - x` rather than `-x`: no −0 for completions within the budget.
  return named((inputs) => inputs.completionIds.map((ids) => 0 - penalty * Math.max(0, ids.length - maxLength)), 'length_penalty');
}
