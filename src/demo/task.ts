// The demo task's data, generated from a seed: requests like "Greet Ann:" answered by simulated
// demonstrators of varying skill (SFT), K answers ranked by the simulated labeler with some label
// noise (reward model), and prompts for PPO and for evaluation. Evaluation uses names that appear
// nowhere in training, so a model must copy the name from the prompt rather than remember it.
// Everything is drawn from one mulberry32 stream in a fixed order: same seed, same bytes.
import { mulberry32, shuffle, type Rng } from '../data/random.js';
import { demoVocabulary, labelerScore, type DemoRequest } from './labeler.js';

export interface DemoTaskSizes {
  /** SFT demonstrations. Default 600. */
  sft?: number;
  /** K-answer rankings. Default 1200: enough for a reward model the policy cannot easily game. */
  preferences?: number;
  /** PPO training prompts (distinct; at most 200, the prompts not held out). Default 200. */
  prompts?: number;
  /** Answers per ranking. Default 4. */
  k?: number;
}

export interface DemoTask {
  sft: { prompt: string; completion: string }[];
  preferences: { prompt: string; completions: string[] }[];
  prompts: { prompt: string }[];
  /** Held-out prompts (40 request × name pairs that occur in no training file). */
  evalPrompts: { prompt: string }[];
}

/** Names used in SFT, preference and PPO data (short, so prompts and answers stay ≤ 24 bytes). */
export const DEMO_TRAIN_NAMES: readonly string[] = [
  'Ann',
  'Bob',
  'Cy',
  'Dee',
  'Eve',
  'Flo',
  'Gus',
  'Hal',
  'Ida',
  'Jo',
  'Kim',
  'Lu',
  'Max',
  'Ned',
  'Oz',
  'Pam',
  'Ray',
  'Sue',
  'Tom',
  'Uma',
  'Val',
  'Wes',
  'Xi',
  'Yan',
  'Zoe',
  'Amy',
  'Ben',
  'Cal',
  'Dan',
  'Eli',
  'Fay',
  'Gil',
  'Hugo',
  'Ivy',
  'Jay',
  'Kai',
  'Leo',
  'Mia',
  'Noa',
  'Otto',
];

/** Names held out for evaluation only. */
/** Request × name pairs held out of every training file, for evaluation. */
export const DEMO_HELD_OUT_PROMPTS = 40;

/** The longest answer the generator writes, in bytes (the leading space included). */
export const DEMO_MAX_ANSWER_BYTES = 24;

const REQUESTS = Object.keys(demoVocabulary.requests) as DemoRequest[];
const RANKING_NOISE = 0.1;

function pick<T>(items: readonly T[], rng: Rng): T {
  return items[Math.floor(rng() * items.length)] as T;
}

function prompt(request: string, name: string): string {
  return `${request} ${name}:`;
}

function allPrompts(names: readonly string[]): { request: DemoRequest; name: string }[] {
  return REQUESTS.flatMap((request) => names.map((name) => ({ request, name })));
}

/**
 * One answer as a demonstrator of the given skill (0..1) writes it: each part (opener, name,
 * friendly middle, ending, no repetition) is done right with probability `skill`, otherwise
 * done in one of the ways real people get it wrong. Starts with a space, to follow the prompt's ':'.
 */
function writeOnce(request: DemoRequest, name: string, skill: number, rng: Rng): string {
  const own = demoVocabulary.requests[request];
  const others = REQUESTS.filter((r) => r !== request).flatMap((r) => demoVocabulary.requests[r]);
  const opener = rng() < skill ? pick(own, rng) : rng() < 0.5 ? pick(others, rng) : '';

  let who: string;
  if (rng() < skill) who = name;
  else {
    const r = rng();
    who =
      r < 0.4
        ? ''
        : r < 0.7
          ? name.toLowerCase()
          : pick(
              DEMO_TRAIN_NAMES.filter((n) => n !== name),
              rng,
            );
  }

  let middle: string;
  if (rng() < skill) middle = pick(['{}', '{}', 'so {}', 'very {}', '{} job'], rng).replace('{}', pick(demoVocabulary.positive, rng));
  else if (rng() < 0.6) middle = pick(['ok', 'fine', 'it is ok', 'you are ok', 'sure', 'hm'], rng);
  else middle = pick(['{}', 'so {}', 'you are {}'], rng).replace('{}', pick(demoVocabulary.rude, rng));
  // Careless writers stutter: the last word again.
  if (rng() < (1 - skill) * 0.4) middle = `${middle} ${middle.split(' ').at(-1) ?? ''}`;

  const ending = rng() < skill ? (rng() < 0.75 ? '!' : '.') : pick(['', '?', '!!!', '...', '.'], rng);
  const head = [opener, who].filter((s) => s !== '').join(' ');
  const body = head === '' ? middle.charAt(0).toUpperCase() + middle.slice(1) : `${head}, ${middle}`;
  return ` ${body}${ending}`;
}

/** An answer of at most DEMO_MAX_ANSWER_BYTES (long drafts are redrawn: the task keeps answers short). */
function writeAnswer(request: DemoRequest, name: string, skill: number, rng: Rng): string {
  for (;;) {
    const answer = writeOnce(request, name, skill, rng);
    if (Buffer.byteLength(answer, 'utf8') <= DEMO_MAX_ANSWER_BYTES) return answer;
  }
}

/** Hired demonstrators: most are skilled, some average, a few careless. */
function demonstratorSkill(rng: Rng): number {
  const r = rng();
  return r < 0.55 ? 0.92 : r < 0.85 ? 0.6 : 0.25;
}

/**
 * K distinct answers of varied quality, ranked best to worst by the labeler, then each adjacent
 * pair swapped with probability RANKING_NOISE (real labelers disagree). Answers whose scores tie
 * an earlier one are redrawn when possible: a tie says nothing about which is better.
 */
function rankedAnswers(request: DemoRequest, name: string, k: number, rng: Rng): string[] {
  const p = prompt(request, name);
  const chosen: { text: string; score: number }[] = [];
  for (let tries = 0; chosen.length < k; tries++) {
    const text = writeAnswer(request, name, 0.1 + 0.9 * rng(), rng);
    const score = labelerScore(p, text);
    if (chosen.some((c) => c.text === text)) continue;
    if (tries < 200 && chosen.some((c) => c.score === score)) continue;
    chosen.push({ text, score });
  }
  // Ties (only after 200 tries) keep drawing order: the sort is stable.
  chosen.sort((a, b) => b.score - a.score);
  for (let i = 0; i + 1 < chosen.length; i++) {
    if (rng() < RANKING_NOISE) [chosen[i], chosen[i + 1]] = [chosen[i + 1]!, chosen[i]!];
  }
  return chosen.map((c) => c.text);
}

/**
 * The demo task from `seed`: SFT demonstrations of mixed quality, K-answer rankings by the
 * noisy labeler, distinct PPO prompts, and held-out evaluation prompts.
 */
export function makeDemoTask(seed: number, sizes: DemoTaskSizes = {}): DemoTask {
  const nSft = sizes.sft ?? 600;
  const nPref = sizes.preferences ?? 1200;
  const nPrompts = sizes.prompts ?? 200;
  const k = sizes.k ?? 4;
  // Hold out whole prompts: 40 request × name pairs appear in no training file. Their names
  // are familiar from other requests, as real held-out prompts use a familiar vocabulary.
  const all = shuffle(allPrompts(DEMO_TRAIN_NAMES), mulberry32(seed ^ 0x5eed));
  const heldOut = all.slice(0, DEMO_HELD_OUT_PROMPTS);
  const train = all.slice(DEMO_HELD_OUT_PROMPTS);
  for (const [key, n] of [
    ['sft', nSft],
    ['preferences', nPref],
    ['prompts', nPrompts],
  ] as const) {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`makeDemoTask: sizes.${key} must be a positive integer, got ${n}`);
  }
  if (nPrompts > train.length)
    throw new RangeError(`makeDemoTask: sizes.prompts must be at most ${train.length} (distinct training prompts), got ${nPrompts}`);
  if (!Number.isInteger(k) || k < 2) throw new RangeError(`makeDemoTask: sizes.k must be an integer ≥ 2, got ${k}`);

  const rng = mulberry32(seed);
  const sft = Array.from({ length: nSft }, () => {
    const { request, name } = pick(train, rng);
    return { prompt: prompt(request, name), completion: writeAnswer(request, name, demonstratorSkill(rng), rng) };
  });
  const preferences = Array.from({ length: nPref }, () => {
    const { request, name } = pick(train, rng);
    return { prompt: prompt(request, name), completions: rankedAnswers(request, name, k, rng) };
  });
  const prompts = shuffle([...train], rng)
    .slice(0, nPrompts)
    .map(({ request, name }) => ({ prompt: prompt(request, name) }));
  const evalPrompts = heldOut.map(({ request, name }) => ({ prompt: prompt(request, name) }));
  return { sft, preferences, prompts, evalPrompts };
}

/** The task as the contents of its four JSONL files (one JSON object per line, "\n" after each). */
export function demoTaskFiles(task: DemoTask): Record<'sft.jsonl' | 'preferences.jsonl' | 'prompts.jsonl' | 'eval_prompts.jsonl', string> {
  const jsonl = (rows: object[]): string => rows.map((r) => `${JSON.stringify(r)}\n`).join('');
  return {
    'sft.jsonl': jsonl(task.sft),
    'preferences.jsonl': jsonl(task.preferences),
    'prompts.jsonl': jsonl(task.prompts),
    'eval_prompts.jsonl': jsonl(task.evalPrompts),
  };
}
