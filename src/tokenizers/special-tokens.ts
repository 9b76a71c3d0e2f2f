// Special tokens shared by the BPE tokenizers: finding special-token text (e.g. "<|endoftext|>")
// inside a string, which encoders only do when asked (allowSpecialTokens): by default such text
// is ordinary text, as in OpenAI's GPT-2 encoder, so user-supplied content cannot forge an EOS or
// other control token; and choosing a PAD distinct from EOS, adding one when the files have none.

/** A piece of text to tokenize normally, or the id of a special token found in the text. */
export type Segment = string | number;

export class SpecialTokenSplitter {
  private readonly pattern: RegExp | null;

  constructor(private readonly idsByText: ReadonlyMap<string, number>) {
    // Longest first so that a special token that is a prefix of another never wins.
    const texts = [...idsByText.keys()].filter((t) => t.length > 0).sort((a, b) => b.length - a.length);
    this.pattern = texts.length === 0 ? null : new RegExp(texts.map(escapeRegExp).join('|'), 'gu');
  }

  /** True when `text` holds the text of some special token. */
  has(text: string): boolean {
    if (this.pattern === null) return false;
    this.pattern.lastIndex = 0; // a global pattern's test() starts where the last match ended
    return this.pattern.test(text);
  }

  split(text: string): Segment[] {
    if (this.pattern === null) return [text];
    const out: Segment[] = [];
    let last = 0;
    for (const match of text.matchAll(this.pattern)) {
      const start = match.index;
      if (start > last) out.push(text.slice(last, start));
      out.push(this.idsByText.get(match[0]) as number);
      last = start + match[0].length;
    }
    if (last < text.length) out.push(text.slice(last));
    return out;
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/**
 * The ids of `ids` that `has` a token, in order: ids the tokenizer does not have (a sampled id in
 * the gap between the tokenizer's size and a padded embedding matrix) are skipped, as
 * transformers' tokenizers skip them. Anything not a non-negative integer is an error (a clear
 * one, where transformers raises OverflowError).
 */
export function knownTokenIds(ids: ArrayLike<number>, has: (id: number) => boolean, who: string): number[] {
  if (ids === null || typeof ids !== 'object' || typeof ids.length !== 'number') {
    throw new TypeError(`${who}.decode: ids must be an array of token ids`);
  }
  const known: number[] = [];
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) {
      throw new RangeError(`${who}.decode: ids[${i}] = ${String(id)} is not a token id (expected a non-negative integer)`);
    }
    if (has(id)) known.push(id);
  }
  return known;
}

/** Names a pad token goes by; the first one the tokenizer defines (and that is not excluded) is PAD. */
const PAD_NAMES = ['<|pad|>', '<pad>', '[PAD]', '<|padding|>', '<|finetune_right_pad_id|>'];
/** The token added when the tokenizer defines no usable PAD. */
const ADDED_PAD_TEXT = '<|pad|>';

export interface PadChoice {
  text: string;
  id: number;
  /** True when the PAD is new, at id `maxId + 1`: the model's embedding needs a row for it. */
  added: boolean;
}

/**
 * A PAD that is not one of `excluded` (EOS and the other ids that end an answer): `preferred`
 * (what the files name) when it qualifies, else the first of PAD_NAMES the vocabulary has, else
 * a new one past the largest id, `maxId`: "<|pad|>", or `preferred` if the vocabulary lacks it.
 */
export function choosePad(
  idOf: (text: string) => number | undefined,
  maxId: number,
  excluded: ReadonlySet<number>,
  preferred?: string,
): PadChoice {
  for (const text of preferred === undefined ? PAD_NAMES : [preferred, ...PAD_NAMES]) {
    const id = idOf(text);
    if (id !== undefined && !excluded.has(id)) return { text, id, added: false };
  }
  // A PAD the files name but the vocabulary lacks is added under that name, as transformers does.
  const text = preferred !== undefined && idOf(preferred) === undefined ? preferred : ADDED_PAD_TEXT;
  return { text, id: maxId + 1, added: true };
}
