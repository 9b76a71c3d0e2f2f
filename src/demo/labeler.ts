// The demo task's simulated human labeler: a deterministic score for a reply to a request such
// as "Greet Ann:", standing in for the people who rate answers in real RLHF. Its rules are ones a
// tiny byte-level model can pick up (a word that fits the request, the person's name copied from
// the prompt, a friendly word, a closing "!", brevity, no rude words or repeats), and each gives
// partial credit, so a policy's score rises gradually as it gets more of them right.

/**
 * The closed vocabulary of the demo task, shared with the data generator (src/demo/task.ts) so
 * that generated answers and the labeler agree on which words exist and what they mean.
 */
export const demoVocabulary = {
  /** Each request and the openers that fit it, e.g. "Thank Bob:" → "Thanks Bob, …". */
  requests: {
    Greet: ['Hi', 'Hello', 'Hey'],
    Thank: ['Thanks', 'Thank you'],
    Welcome: ['Welcome'],
    Cheer: ['Go', 'Yay'],
    Praise: ['Bravo', 'Well done'],
    Wish: ['Good luck'],
  } as const satisfies Record<string, readonly string[]>,
  /** Friendly words: one of them earns the positivity credit. */
  positive: ['great', 'nice', 'kind', 'lovely', 'super', 'cool', 'glad', 'smart', 'brave'] as const,
  /** Words that are harmless but add nothing (fillers of lukewarm answers). */
  neutral: ['ok', 'fine', 'so', 'very', 'you', 'are', 'it', 'is', 'job', 'day', 'sure', 'hm'] as const,
  /** Rude words: each one costs a lot. */
  rude: ['dumb', 'lazy', 'ugh', 'meh', 'lame', 'bad', 'boring'] as const,
};

export type DemoRequest = keyof typeof demoVocabulary.requests;

/** Each rule's credit (in [0, 1]; penalties as counts) and the total. */
export interface LabelerBreakdown {
  /** 1: starts with an opener that fits the request; 0.4: another request's opener; 0: none. */
  opener: number;
  /** 1: the prompt's name as a word, same case; 0.5: only in another case; 0: absent. */
  name: number;
  /** 1: at least one friendly word; 0: none. */
  positive: number;
  /** 1: ends with a single "!"; 0.7: a single "."; 0.3: "!!", "..." and the like; 0: otherwise. */
  ending: number;
  /** 1 up to 16 bytes (trimmed), falling linearly to 0 at 32 bytes. */
  brevity: number;
  /** The fraction of words that are in the task's vocabulary or are the prompt's name (0 for no words). */
  vocabulary: number;
  /** How many rude words (each costs 0.3). */
  rude: number;
  /** How many words repeat an earlier word, case-insensitively (each costs 0.15). */
  repeats: number;
  /** The weighted sum minus penalties, clamped to [0, 1]. */
  score: number;
}

// Weights of the credits (they sum to 1, so a perfect answer scores exactly 1) and penalties.
const W = { opener: 0.25, name: 0.25, positive: 0.2, ending: 0.1, brevity: 0.1, vocabulary: 0.1 } as const;
const RUDE_PENALTY = 0.3;
const REPEAT_PENALTY = 0.15;
const BREVITY_FULL = 16;
const BREVITY_ZERO = 32;

const REQUESTS = demoVocabulary.requests as Record<string, readonly string[]>;
const ALL_OPENERS: readonly string[] = Object.values(REQUESTS).flat();
const POSITIVE = new Set<string>(demoVocabulary.positive);
const RUDE = new Set<string>(demoVocabulary.rude);
const KNOWN = new Set<string>([
  ...ALL_OPENERS.flatMap((o) => o.toLowerCase().split(' ')),
  ...demoVocabulary.positive,
  ...demoVocabulary.neutral,
  ...demoVocabulary.rude,
]);

/** "Greet Ann:" → { request: 'Greet', name: 'Ann' }; anything else → nulls (no opener or name credit). */
function parsePrompt(prompt: string): { request: string | null; name: string | null } {
  const m = /^\s*([A-Za-z]+)\s+([A-Za-z]+)\s*:\s*$/.exec(prompt);
  return m ? { request: m[1] ?? null, name: m[2] ?? null } : { request: null, name: null };
}

/** Whether `text` starts with `opener` (case-insensitively) followed by a non-letter or the end. */
function startsWithWord(text: string, opener: string): boolean {
  if (text.slice(0, opener.length).toLowerCase() !== opener.toLowerCase()) return false;
  const next = text.charAt(opener.length);
  return next === '' || !/[A-Za-z]/.test(next);
}

function openerCredit(text: string, request: string | null): number {
  const own = request === null ? [] : (REQUESTS[request] ?? []);
  if (own.some((o) => startsWithWord(text, o))) return 1;
  // A polite opener for the wrong request ("Thanks" when asked to greet) is half right.
  if (ALL_OPENERS.some((o) => startsWithWord(text, o))) return 0.4;
  return 0;
}

function endingCredit(text: string): number {
  const run = /[.!?]*$/.exec(text)?.[0] ?? '';
  if (run === '!') return 1;
  if (run === '.') return 0.7;
  // Shouting or trailing off: still an ending, but not a nice one.
  if (run.length >= 2 && /^[.!]+$/.test(run)) return 0.3;
  return 0;
}

/** Every rule's credit for `answer` to `prompt`, and the total score in [0, 1]. */
export function labelerBreakdown(prompt: string, answer: string): LabelerBreakdown {
  const { request, name } = parsePrompt(prompt);
  // Leading and trailing whitespace is layout (completions start with a space after the prompt's ':').
  const text = answer.trim();
  const words: string[] = text.match(/[A-Za-z]+/g) ?? [];
  const lower = words.map((w) => w.toLowerCase());

  const opener = openerCredit(text, request);
  const nameCredit = name === null ? 0 : words.includes(name) ? 1 : lower.includes(name.toLowerCase()) ? 0.5 : 0;
  const positive = lower.some((w) => POSITIVE.has(w)) ? 1 : 0;
  const ending = endingCredit(text);
  const bytes = Buffer.byteLength(text, 'utf8');
  const brevity = Math.min(1, Math.max(0, (BREVITY_ZERO - bytes) / (BREVITY_ZERO - BREVITY_FULL)));
  // Another person's name or made-up bytes are not words of this task: they lower this credit.
  const known = lower.filter((w) => KNOWN.has(w) || (name !== null && w === name.toLowerCase())).length;
  const vocabulary = lower.length === 0 ? 0 : known / lower.length;
  const rude = lower.filter((w) => RUDE.has(w)).length;
  const repeats = lower.length - new Set(lower).size;

  const raw =
    W.opener * opener +
    W.name * nameCredit +
    W.positive * positive +
    W.ending * ending +
    W.brevity * brevity +
    W.vocabulary * vocabulary -
    RUDE_PENALTY * rude -
    REPEAT_PENALTY * repeats;
  // Rounded so that sums of the same credits in any order compare equal (no 0.30000000000000004).
  const score = Math.round(Math.min(1, Math.max(0, raw)) * 1e6) / 1e6;
  return { opener, name: nameCredit, positive, ending, brevity, vocabulary, rude, repeats, score };
}

/** The simulated human's score for `answer` to `prompt`, in [0, 1] (deterministic). */
export function labelerScore(prompt: string, answer: string): number {
  return labelerBreakdown(prompt, answer).score;
}

/** One paragraph describing the labeler, for the CLI to print. */
export function describeLabeler(): string {
  const requests = Object.entries(REQUESTS)
    .map(([r, o]) => `${r} → ${o.map((x) => `"${x}"`).join('/')}`)
    .join(', ');
  return (
    'The simulated labeler scores a reply to a request like "Greet Ann:" from 0 to 1 with partial credit: ' +
    `25% for opening with a word that fits the request (${requests}; another request's opener earns 40% of it), ` +
    "25% for using the person's name from the prompt (half for the wrong case), " +
    `20% for a friendly word (${demoVocabulary.positive.join(', ')}), ` +
    '10% for ending with a single "!" (70% of it for ".", 30% for "!!!" or "..."), ' +
    `10% for brevity (full up to ${BREVITY_FULL} bytes, none from ${BREVITY_ZERO}), ` +
    "10% for using only words of the task's vocabulary; " +
    `each rude word (${demoVocabulary.rude.join(', ')}) costs ${RUDE_PENALTY} and each repeated word ${REPEAT_PENALTY}. ` +
    'A perfect reply is short, e.g. "Hi Ann, great!".'
  );
}
