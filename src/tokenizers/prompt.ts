// A prompt for generation as the online trainers and generateText take it: a text, or a
// conversation (TRL's conversational prompt, a list of {role, content} that ends with the user's
// turn). A conversation is rendered with the tokenizer's chat template and add_generation_prompt,
// and encoded so that the template's special-token text ("<|im_start|>") becomes its one id. A
// text is encoded as the user typed it, with the tokenizer's BOS, and any special-token text in it
// stays plain text (so a user's text cannot forge a control token): a chat template rendered by
// hand and passed as text therefore loses its special tokens, which encodePromptBatch warns of.
import type { ChatMessage } from './chat-template.js';
import { encodeChat, renderChat } from './conversation.js';
import type { Tokenizer } from './tokenizer.js';

/** A text prompt, or a conversation to answer (its last message the user's). */
export type Prompt = string | readonly ChatMessage[];

/** A prompt with its text (the rendered conversation, for samples and logs) and its ids. */
export interface EncodedPrompt {
  text: string;
  ids: number[];
}

function check(prompt: unknown, who: string): asserts prompt is Prompt {
  if (typeof prompt === 'string') return;
  if (!Array.isArray(prompt))
    throw new TypeError(
      `${who} must be a string or a conversation (an array of {role, content}), got ${prompt === null ? 'null' : typeof prompt}`,
    );
  if (prompt.length === 0) throw new Error(`${who} is an empty conversation (expected at least the user's message)`);
  const last = prompt[prompt.length - 1] as { role?: unknown } | null;
  if (last !== null && typeof last === 'object' && last.role === 'assistant')
    throw new Error(`${who} must end with the user's turn, not an assistant message: the model writes the assistant's reply`);
}

/** The text the model continues: the prompt itself, or the conversation rendered with add_generation_prompt. */
export function promptText(tok: Tokenizer, prompt: Prompt, who = 'prompt'): string {
  check(prompt, who);
  return typeof prompt === 'string' ? prompt : renderChat(tok, prompt, true);
}

/**
 * The special token whose text `text` holds (e.g. "<|im_start|>"), found by encoding it with and
 * without special tokens; undefined when it holds none.
 */
export function specialTokenIn(tok: Tokenizer, text: string): string | undefined {
  const special = tok.encode(text, { allowSpecialTokens: true });
  const plain = tok.encode(text);
  const at = special.findIndex((id, i) => id !== plain[i]);
  if (at === -1 && special.length === plain.length) return undefined;
  return tok.decode([special[at === -1 ? special.length - 1 : at]!]);
}

/** A prompt's text and ids (see the top of this file); `who` names it in errors. */
export function encodePrompt(tok: Tokenizer, prompt: Prompt, who = 'prompt'): EncodedPrompt {
  const text = promptText(tok, prompt, who);
  const ids = typeof prompt === 'string' ? tok.encode(text, { addSpecialTokens: true }) : encodeChat(tok, text);
  return { text, ids };
}

/**
 * Prompts' texts and ids, each named `${who}: prompt ${i}` in errors. Text prompts holding a special
 * token's text get one warning for the batch: that text is encoded as plain text, and the model
 * meets it as a few ordinary tokens, not as the control token its chat template uses.
 */
export function encodePromptBatch(tok: Tokenizer, prompts: readonly Prompt[], who: string): EncodedPrompt[] {
  const found: { index: number; token: string }[] = [];
  const out = prompts.map((p, i) => {
    const encoded = encodePrompt(tok, p, `${who}: prompt ${i}`);
    const token = typeof p === 'string' ? specialTokenIn(tok, p) : undefined;
    if (token !== undefined) found.push({ index: i, token });
    return encoded;
  });
  const first = found[0];
  if (first !== undefined)
    console.warn(
      `warning: ${who}: ${found.length} text prompt(s) hold the text of the special token ${JSON.stringify(first.token)} ` +
        `(prompt ${first.index} first); it is encoded as plain text, not as that token. To use the chat template's special ` +
        'tokens, pass the conversation as messages ([{role, content}]) instead of rendered text.',
    );
  return out;
}
