// The bundled task with a verifiable reward: small arithmetic ("What is 17+25?" → " 42"), sums
// and differences of 1–2 digit numbers (differences never negative). A program knows every
// answer, so GRPO and RLOO can be rewarded by exact match against the prompt rows' `answer`
// column, DPO trained on right-versus-plausibly-wrong pairs, and any policy scored by its
// held-out accuracy. Generated from a seed: SFT demonstrations (mostly right, some with the
// mistakes people make: a dropped carry, off by one or ten, the wrong operation), training
// prompts with answers, held-out prompts that occur in no training file, and preference pairs.
// Each part draws from its own mulberry32 stream: same seed, same bytes. The recommended SFT
// settings, measured on a 2-core CPU, are ARITHMETIC_SFT_PLAN.
import { mulberry32, type Rng } from '../data/random.js';
import type { GPTConfig } from '../models/gpt.js';
import { exactMatch } from '../rewards/builtin.js';
import type { SFTConfig } from '../trainers/sft.js';

export interface ArithmeticProblem {
  a: number;
  b: number;
  op: '+' | '-';
}

export interface ArithmeticTaskSizes {
  /** SFT demonstrations. Default 4000. */
  sft?: number;
  /** Fraction of demonstrations with a wrong answer. Default 0.1. */
  noise?: number;
  /** Distinct training prompts for GRPO/RLOO. Default 1000. */
  prompts?: number;
  /** Distinct held-out prompts. Default 200. */
  eval?: number;
  /** Preference pairs for DPO. Default 1000. */
  preferences?: number;
}

export interface ArithmeticTask {
  sft: { prompt: string; completion: string }[];
  /** Training prompts with the answer (the reward's column). */
  prompts: { prompt: string; answer: string }[];
  /** Held-out prompts with the answer; none of them is in sft, prompts or preferences. */
  eval: { prompt: string; answer: string }[];
  /** The right answer chosen, a plausible wrong one rejected. */
  preferences: { prompt: string; chosen: string; rejected: string }[];
}

/** The exact-match reward of the task: the completion, trimmed, equals the `answer` column. */
export const arithmeticReward = exactMatch({ column: 'answer' });

/**
 * The recommended SFT run for a byte-level GPT (434k parameters) on data/arith/sft.jsonl.
 * Measured on the development machine (2 vCPU shared with other work, OMP_NUM_THREADS=1,
 * seed 1234): 83–106 s, held-out greedy accuracy 20 % (40 of 200; 28 % on training prompts),
 * room for GRPO, RLOO and DPO. Accuracy is steep in the budget: 30 epochs at 1.5e-3 reach 57 %.
 * Generation for evaluation: greedy, at most `maxNewTokens`.
 */
export const ARITHMETIC_SFT_PLAN = {
  model: { blockSize: 32, nLayer: 2, nHead: 4, nEmbd: 128 } satisfies Partial<GPTConfig>,
  sft: { learningRate: 2e-3, numTrainEpochs: 24, batchSize: 32, warmupSteps: 20, lrSchedulerType: 'cosine', evalFraction: 0.05, loggingSteps: 20 } satisfies Partial<SFTConfig>,
  maxNewTokens: 6,
} as const;

/** The prompt for a problem, e.g. "What is 17+25?". */
export function arithmeticPrompt(p: ArithmeticProblem): string {
  return `What is ${p.a}${p.op}${p.b}?`;
}

export function solveArithmetic(p: ArithmeticProblem): number {
  return p.op === '+' ? p.a + p.b : p.a - p.b;
}

/** A completion as the task writes it: a space (after the prompt's '?'), then the number. */
const completion = (n: number): string => ` ${n}`;

/**
 * Held-out accuracy: the fraction of completions whose answer (the trimmed completion) equals
 * the reference, scored by arithmeticReward. Rows without an answer are not counted.
 */
export function arithmeticAccuracy(prompts: readonly string[], completions: readonly string[], answers: readonly (string | number)[]): number {
  if (prompts.length !== completions.length || answers.length !== completions.length) {
    throw new RangeError(`arithmeticAccuracy: got ${prompts.length} prompts, ${completions.length} completions and ${answers.length} answers; they must be as many`);
  }
  const scores = arithmeticReward({ prompts: [...prompts], completions: [...completions], completionIds: completions.map(() => []), answer: [...answers] });
  const counted = scores.filter((s): s is number => s !== null);
  if (counted.length === 0) throw new RangeError('arithmeticAccuracy: no completion has an answer to compare with');
  return counted.reduce((a, b) => a + b, 0) / counted.length;
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
  return op === '-' && x < y ? { a: y, b: x, op } : { a: x, b: y, op };
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
      r < 0.3 ? withoutCarry(p)
      : r < 0.55 ? right + (rng() < 0.5 ? -1 : 1)
      : r < 0.8 ? right + (rng() < 0.5 ? -10 : 10)
      : p.op === '+' ? Math.abs(p.a - p.b) : p.a + p.b;
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
  const { sft: nSft = 4000, noise = 0.1, prompts: nPrompts = 1000, eval: nEval = 200, preferences: nPref = 1000 } = sizes;
  checkSize('sft', nSft, 1);
  checkSize('prompts', nPrompts, 1);
  checkSize('eval', nEval, 1);
  checkSize('preferences', nPref, 1);
  if (!(noise >= 0 && noise <= 1)) throw new RangeError(`makeArithmeticTask: sizes.noise must be in [0, 1], got ${noise}`);
  // 15,050 problems exist (10,000 sums, 5,050 differences); keep most of them for training.
  if (nEval + nPrompts > 10_000) throw new RangeError(`makeArithmeticTask: sizes.eval + sizes.prompts must be at most 10000 distinct problems, got ${nEval + nPrompts}`);

  const evalProblems = distinctProblems(nEval, mulberry32(seed ^ 0xe7a1), new Set());
  const heldOut = new Set(evalProblems.map(key));
  const row = (p: ArithmeticProblem) => ({ prompt: arithmeticPrompt(p), answer: String(solveArithmetic(p)) });

  const sftRng = mulberry32(seed);
  const sft = Array.from({ length: nSft }, () => {
    const p = trainingProblem(sftRng, heldOut);
    const answer = sftRng() < noise ? wrongAnswer(p, sftRng) : solveArithmetic(p);
    return { prompt: arithmeticPrompt(p), completion: completion(answer) };
  });
  const prompts = distinctProblems(nPrompts, mulberry32(seed ^ 0x9e01), heldOut).map(row);
  const prefRng = mulberry32(seed ^ 0xd90);
  const preferences = Array.from({ length: nPref }, () => {
    const p = trainingProblem(prefRng, heldOut);
    return { prompt: arithmeticPrompt(p), chosen: completion(solveArithmetic(p)), rejected: completion(wrongAnswer(p, prefRng)) };
  });
  return { sft, prompts, eval: evalProblems.map(row), preferences };
}

/** The task as the contents of its four JSONL files (one JSON object per line, "\n" after each). */
export function arithmeticTaskFiles(task: ArithmeticTask): Record<'sft.jsonl' | 'prompts.jsonl' | 'eval.jsonl' | 'prefs.jsonl', string> {
  const jsonl = (rows: object[]): string => rows.map((r) => `${JSON.stringify(r)}\n`).join('');
  return { 'sft.jsonl': jsonl(task.sft), 'prompts.jsonl': jsonl(task.prompts), 'eval.jsonl': jsonl(task.eval), 'prefs.jsonl': jsonl(task.preferences) };
}
