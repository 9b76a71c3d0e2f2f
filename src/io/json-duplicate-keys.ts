// Finding a key that appears twice in one JSON object. JSON.parse keeps the last of two equal
// keys without a word and RFC 8259 leaves their meaning open, so two readers of one file can
// see different contents (in a safetensors header: different offsets for the same tensor).
// Files that must mean one thing are refused instead. The scan runs on text JSON.parse has
// already accepted, so it only has to tell keys from values, not check the syntax.

/** The first repeated key, with the keys of the objects around it (outermost first), or null. */
export function findDuplicateKey(text: string): { key: string; path: string[] } | null {
  // One frame per open object or array: the keys seen so far (null in an array) and the key it
  // sits under, for the message.
  const stack: { keys: Set<string> | null; under: string }[] = [];
  let lastString = ''; // the raw text of the latest string, quotes included: a key if ':' follows
  let lastKey = '';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const end = closingQuote(text, i);
      lastString = text.slice(i, end + 1);
      i = end;
    } else if (c === 0x3a /* : */) {
      // Compare decoded keys: "a" and "\u0061" are the same key.
      const key = JSON.parse(lastString) as string;
      const keys = stack[stack.length - 1]!.keys!;
      if (keys.has(key)) return { key, path: stack.slice(1).map((f) => f.under) };
      keys.add(key);
      lastKey = key;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      const parent = stack[stack.length - 1];
      // The items of an array go under the array's key.
      stack.push({ keys: c === 0x7b ? new Set() : null, under: parent?.keys === null ? parent.under : lastKey });
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
    }
  }
  return null;
}

/** The index of the quote that closes the string opened at `open`: the first not escaped. */
function closingQuote(text: string, open: number): number {
  for (let q = text.indexOf('"', open + 1); ; q = text.indexOf('"', q + 1)) {
    let backslashes = 0;
    while (text.charCodeAt(q - 1 - backslashes) === 0x5c) backslashes++;
    if (backslashes % 2 === 0) return q;
  }
}
