// The bundled task with a verifiable reward: small arithmetic with a requested answer format
// ("What is 17+25? Answer as n!" → " 42!"; formats n, n! and n?), sums and differences of 1–2
// digit numbers (differences never negative). A program knows every answer, so GRPO and RLOO can
// be rewarded by exact match against the prompt rows' `answer` column (format included) and by
// the format alone (the `format` column), DPO trained on pairs the task makes, and any policy
// scored by its held-out accuracy.
//
// Why a format: the demonstrations, like a careless labeler's, mostly answer in the plain format
// whatever was asked (only `follow` of them, 30 %, use the requested one), so the SFT policy's
// greedy answer ignores the request although it samples the right format now and then. That is
// headroom a reward can take and that generalises to unseen problems. The format's mark comes
// after the number, so the digits sit at the positions SFT trained them at (a leading mark, as
// in "(42)", cost the tuned policies a third of their right numbers). Arithmetic alone has none
// for RL at this size: the policy's accuracy is bound by what SFT taught it (measured: GRPO and
// DPO left plain-answer accuracy at 20 %, while they take this task from 12 % to 25 %).
//
// Generated from a seed: SFT demonstrations (some with the mistakes people make: a dropped
// carry, off by one or ten, the wrong operation), training prompts with answers, held-out
// prompts that occur in no training file, and preference pairs (the right answer in the
// requested format chosen, the same answer in another format rejected). Each part draws from
// its own mulberry32 stream: same seed, same bytes. The recommended SFT settings, measured on a
// 2-core CPU, are ARITHMETIC_SFT_PLAN.
import { mulberry32, type Rng } from '../data/random.js';
import type { GPTConfig } from '../models/gpt.js';
import { exactMatch, type SyncRewardFunction } from '../rewards/builtin.js';
import { completionText, type RewardInputs, type RewardScores } from '../rewards/types.js';
import type { SFTConfig } from '../trainers/sft-config.js';

export type AnswerFormat = 'plain' | 'bang' | 'query';

export interface ArithmeticProblem {
  a: number;
  b: number;
  op: '+' | '-';
  /** The answer format the prompt asks for; default 'plain'. */
  format?: AnswerFormat;
}

/** How each format writes a number, and how a prompt asks for it. */
const FORMATS: Record<AnswerFormat, { write: (n: number) => string; request: string }> = {
  plain: { write: (n) => String(n), request: 'n' },
  bang: { write: (n) => `${n}!`, request: 'n!' },
  query: { write: (n) => `${n}?`, request: 'n?' },
};
const FORMAT_NAMES = Object.keys(FORMATS) as AnswerFormat[];

export interface ArithmeticTaskSizes {
  /** SFT demonstrations. Default 4000. */
  sft?: number;
  /** Fraction of demonstrations with a wrong answer. Default 0.1. */
  noise?: number;
  /** Fraction of demonstrations for an n! or n? prompt written in that format; the others are plain. Default 0.3. */
  follow?: number;
  /** Distinct training prompts for GRPO/RLOO. Default 1000. */
  prompts?: number;
  /** Distinct held-out prompts. Default 200. */
  eval?: number;
  /** Preference pairs for DPO. Default 1000. */
  preferences?: number;
}

export interface ArithmeticTask {
  sft: { prompt: string; completion: string }[];
  /** Training prompts with the answer in the requested format and the format's name (the rewards' columns). */
  prompts: ArithmeticRow[];
  /** Held-out prompts, as the training prompts; none of them is in sft, prompts or preferences. */
  eval: ArithmeticRow[];
  /** The right answer in the requested format chosen, the same answer in another format rejected. */
  preferences: { prompt: string; chosen: string; rejected: string }[];
}

export interface ArithmeticRow {
  prompt: string;
  /** The right answer as requested, e.g. "42!". */
  answer: string;
  format: AnswerFormat;
}

/** The exact-match reward of the task: the completion, trimmed, equals the `answer` column (format included). */
export const arithmeticReward = exactMatch({ column: 'answer' });

/**
 * 1 when the completion, trimmed, is a number written in the row's requested format (the `format` column), else 0;
 * right or wrong number alike.
 */
export const arithmeticFormatReward: SyncRewardFunction = Object.assign(
  (inputs: RewardInputs): RewardScores => {
    const formats = inputs.format;
    if (!Array.isArray(formats)) throw new Error("arithmeticFormatReward: the prompt rows have no 'format' column");
    return inputs.completions.map((c, i) => {
      const f = formats[i];
      if (f === undefined || f === null || f === '') return null;
      const shape = FORMAT_SHAPES[f as AnswerFormat];
      if (!shape)
        throw new TypeError(
          `arithmeticFormatReward: sample ${i}: column 'format' must be one of ${FORMAT_NAMES.join(', ')}, got ${JSON.stringify(f)}`,
        );
      return shape.test(completionText(c).trim()) ? 1 : 0;
    });
  },
  { rewardName: 'format' },
);
const FORMAT_SHAPES: Record<AnswerFormat, RegExp> = { plain: /^\d+$/, bang: /^\d+!$/, query: /^\d+\?$/ };

/**
 * The recommended SFT run for a byte-level GPT (2 layers × 128) on data/arith/sft.jsonl.
 * Measured on the development machine (2 vCPU shared with other work, OMP_NUM_THREADS=1,
 * seed 1234): about 3 to 5 minutes; held-out greedy accuracy 6.5 % (the number right in 24.5 %,
 * the requested format in 27.5 %), which leaves GRPO, RLOO and DPO the format to fix
 * (`rlhf demo --method grpo,dpo`: 21 % and 24.5 %). Generation for evaluation: greedy, at most
 * `maxNewTokens`.
 */
export const ARITHMETIC_SFT_PLAN = {
  model: { blockSize: 48, nLayer: 2, nHead: 4, nEmbd: 128 } satisfies Partial<GPTConfig>,
  sft: {
    learningRate: 2e-3,
    numTrainEpochs: 24,
    batchSize: 32,
    warmupSteps: 20,
    lrSchedulerType: 'cosine',
    evalFraction: 0.05,
    loggingSteps: 20,
  } satisfies Partial<SFTConfig>,
  maxNewTokens: 8,
} as const;

/** The prompt for a problem, e.g. "What is 17+25? Answer as n!". */
export function arithmeticPrompt(p: ArithmeticProblem): string {
  return `What is ${p.a}${p.op}${p.b}? Answer as ${FORMATS[p.format ?? 'plain'].request}`;
}

/** A number in a format, e.g. 42 as 'bang' → "42!". */
export const formatAnswer = (n: number, format: AnswerFormat): string => FORMATS[format].write(n);

export function solveArithmetic(p: ArithmeticProblem): number {
  return p.op === '+' ? p.a + p.b : p.a - p.b;
}

/** A completion as the task writes it: a space after the prompt, then the number in its format. */
const completion = (n: number, format: AnswerFormat = 'plain'): string => ` ${formatAnswer(n, format)}`;

/**
 * Held-out accuracy: the fraction of completions whose answer (the trimmed completion) equals
 * the reference (format included), scored by arithmeticReward. Rows without an answer are not counted.
 */
export function arithmeticAccuracy(
  prompts: readonly string[],
  completions: readonly string[],
  answers: readonly (string | number)[],
): number {
  if (prompts.length !== completions.length || answers.length !== completions.length) {
    throw new RangeError(
      `arithmeticAccuracy: got ${prompts.length} prompts, ${completions.length} completions and ${answers.length} answers; they ` +
        'must be as many',
    );
  }
  const scores = arithmeticReward({
    prompts: [...prompts],
    completions: [...completions],
    completionIds: completions.map(() => []),
    answer: [...answers],
  });
  const counted = scores.filter((s): s is number => s !== null);
  if (counted.length === 0) throw new RangeError('arithmeticAccuracy: no completion has an answer to compare with');
  return counted.reduce((a, b) => a + b, 0) / counted.length;
}

/** What a policy got right on rows of the task: the whole answer, the requested format, and the number whatever its format. */
export interface ArithmeticScores {
  accuracy: number;
  formatRate: number;
  numberAccuracy: number;
}

/** Scores completions against task rows (as arithmeticAccuracy, plus the format and the number apart). */
export function arithmeticScores(completions: readonly string[], rows: readonly ArithmeticRow[]): ArithmeticScores {
  if (rows.length !== completions.length || rows.length === 0)
    throw new RangeError(
      `arithmeticScores: got ${completions.length} completions for ${rows.length} rows; they must be as many, and at least one`,
    );
  const inputs = {
    prompts: rows.map((r) => r.prompt),
    completions: [...completions],
    completionIds: completions.map(() => []),
    answer: rows.map((r) => r.answer),
    format: rows.map((r) => r.format),
  };
  const mean = (xs: (number | null)[]): number => xs.reduce<number>((a, b) => a + (b ?? 0), 0) / xs.length;
  const digits = (t: string): string => t.replace(/\D/g, '');
  return {
    accuracy: mean(arithmeticReward(inputs)),
    formatRate: mean(arithmeticFormatReward(inputs)),
    numberAccuracy: mean(completions.map((c, i) => (digits(c) !== '' && digits(c) === digits(rows[i]!.answer) ? 1 : 0))),
  };
}

const key = (p: ArithmeticProblem): string => arithmeticPrompt(p);

/** One operand: half the time 1 digit (0–9), half the time 2 (10–99), so easy and hard problems mix. */
function operand(rng: Rng): number {
  return rng() < 0.5 ? Math.floor(rng() * 10) : 10 + Math.floor(rng() * 90);
}

function drawProblem(rng: Rng): ArithmeticProblem {
  const x = operand(rng);
  const y = operand(rng);
  const op = rng() < 0.5 ? '+' : '-';
  const format = FORMAT_NAMES[Math.floor(rng() * FORMAT_NAMES.length)]!;
  return op === '-' && x < y ? { a: y, b: x, op, format } : { a: x, b: y, op, format };
}

/** Digit by digit, ignoring carries and borrows (|difference| per digit): 17+25 → 32, 42-17 → 35. */
function withoutCarry(p: ArithmeticProblem): number {
  let out = 0;
  for (let place = 1, a = p.a, b = p.b; a > 0 || b > 0; place *= 10, a = Math.floor(a / 10), b = Math.floor(b / 10)) {
    const digit = p.op === '+' ? ((a % 10) + (b % 10)) % 10 : Math.abs((a % 10) - (b % 10));
    out += digit * place;
  }
  return out;
}

/** A plausible wrong answer: a dropped carry or borrow, off by one or by ten, or the other operation. Never negative. */
export function wrongAnswer(p: ArithmeticProblem, rng: Rng): number {
  const right = solveArithmetic(p);
  for (;;) {
    const r = rng();
    const wrong =
      r < 0.3
        ? withoutCarry(p)
        : r < 0.55
          ? right + (rng() < 0.5 ? -1 : 1)
          : r < 0.8
            ? right + (rng() < 0.5 ? -10 : 10)
            : p.op === '+'
              ? Math.abs(p.a - p.b)
              : p.a + p.b;
    if (wrong !== right && wrong >= 0) return wrong;
  }
}

function checkSize(name: string, n: number, min: number): void {
  if (!Number.isInteger(n) || n < min) throw new RangeError(`makeArithmeticTask: sizes.${name} must be an integer ≥ ${min}, got ${n}`);
}

/** `n` distinct problems from `rng`, none in `exclude`. */
function distinctProblems(n: number, rng: Rng, exclude: ReadonlySet<string>): ArithmeticProblem[] {
  const seen = new Set<string>();
  const out: ArithmeticProblem[] = [];
  while (out.length < n) {
    const p = drawProblem(rng);
    if (seen.has(key(p)) || exclude.has(key(p))) continue;
    seen.add(key(p));
    out.push(p);
  }
  return out;
}

/** A training problem: any problem not held out. */
function trainingProblem(rng: Rng, heldOut: ReadonlySet<string>): ArithmeticProblem {
  for (;;) {
    const p = drawProblem(rng);
    if (!heldOut.has(key(p))) return p;
  }
}

/** The arithmetic task from `seed` (data/arith/ is seed 1234 with the default sizes). */
export function makeArithmeticTask(seed: number, sizes: ArithmeticTaskSizes = {}): ArithmeticTask {
  const { sft: nSft = 4000, noise = 0.1, follow = 0.3, prompts: nPrompts = 1000, eval: nEval = 200, preferences: nPref = 1000 } = sizes;
  checkSize('sft', nSft, 1);
  checkSize('prompts', nPrompts, 1);
  checkSize('eval', nEval, 1);
  checkSize('preferences', nPref, 1);
  if (!(noise >= 0 && noise <= 1)) throw new RangeError(`makeArithmeticTask: sizes.noise must be in [0, 1], got ${noise}`);
  if (!(follow >= 0 && follow <= 1)) throw new RangeError(`makeArithmeticTask: sizes.follow must be in [0, 1], got ${follow}`);
  // 45,150 prompts exist (15,050 problems in 3 formats); keep most of them for training.
  if (nEval + nPrompts > 10_000)
    throw new RangeError(`makeArithmeticTask: sizes.eval + sizes.prompts must be at most 10000 distinct problems, got ${nEval + nPrompts}`);

  const evalProblems = distinctProblems(nEval, mulberry32(seed ^ 0xe7a1), new Set());
  const heldOut = new Set(evalProblems.map(key));
  const formatOf = (p: ArithmeticProblem): AnswerFormat => p.format ?? 'plain';
  const row = (p: ArithmeticProblem): ArithmeticRow => ({
    prompt: arithmeticPrompt(p),
    answer: formatAnswer(solveArithmetic(p), formatOf(p)),
    format: formatOf(p),
  });

  const sftRng = mulberry32(seed);
  const sft = Array.from({ length: nSft }, () => {
    const p = trainingProblem(sftRng, heldOut);
    const answer = sftRng() < noise ? wrongAnswer(p, sftRng) : solveArithmetic(p);
    const written = formatOf(p) === 'plain' || sftRng() < follow ? formatOf(p) : 'plain';
    return { prompt: arithmeticPrompt(p), completion: completion(answer, written) };
  });
  const prompts = distinctProblems(nPrompts, mulberry32(seed ^ 0x9e01), heldOut).map(row);
  const prefRng = mulberry32(seed ^ 0xd90);
  const preferences = Array.from({ length: nPref }, () => {
    const p = trainingProblem(prefRng, heldOut);
    const others = FORMAT_NAMES.filter((f) => f !== formatOf(p));
    const rejectedFormat = others[Math.floor(prefRng() * others.length)]!;
    return {
      prompt: arithmeticPrompt(p),
      chosen: completion(solveArithmetic(p), formatOf(p)),
      rejected: completion(solveArithmetic(p), rejectedFormat),
    };
  });
  return { sft, prompts, eval: evalProblems.map(row), preferences };
}

/** The task as the contents of its four JSONL files (one JSON object per line, "\n" after each). */
export function arithmeticTaskFiles(task: ArithmeticTask): Record<'sft.jsonl' | 'prompts.jsonl' | 'eval.jsonl' | 'prefs.jsonl', string> {
  const jsonl = (rows: object[]): string => rows.map((r) => `${JSON.stringify(r)}\n`).join('');
  return {
    'sft.jsonl': jsonl(task.sft),
    'prompts.jsonl': jsonl(task.prompts),
    'eval.jsonl': jsonl(task.eval),
    'prefs.jsonl': jsonl(task.preferences),
  };
}
