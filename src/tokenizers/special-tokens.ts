// Finding special-token text (e.g. "<|endoftext|>") inside a string. Encoders only do this when
// asked (allowSpecialTokens): by default such text is ordinary text, as in OpenAI's GPT-2
// encoder, so user-supplied content cannot forge an EOS or other control token.

/** A piece of text to tokenize normally, or the id of a special token found in the text. */
export type Segment = string | number;

export class SpecialTokenSplitter {
  private readonly pattern: RegExp | null;

  constructor(private readonly idsByText: ReadonlyMap<string, number>) {
    // Longest first so that a special token that is a prefix of another never wins.
    const texts = [...idsByText.keys()].filter((t) => t.length > 0).sort((a, b) => b.length - a.length);
    this.pattern = texts.length === 0 ? null : new RegExp(texts.map(escapeRegExp).join('|'), 'gu');
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

/** Checks that `ids` are integers in [0, vocabSize); a clear error beats a silent wrong decode. */
export function checkTokenIds(ids: ArrayLike<number>, vocabSize: number, who: string): void {
  if (ids === null || typeof ids !== 'object' || typeof ids.length !== 'number') {
    throw new TypeError(`${who}.decode: ids must be an array of token ids`);
  }
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new RangeError(`${who}.decode: ids[${i}] = ${String(id)} is not a token id (expected an integer in [0, ${vocabSize}))`);
    }
  }
}
