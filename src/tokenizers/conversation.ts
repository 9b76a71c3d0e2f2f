// Conversations as token ids for training: rendered with the tokenizer's own chat template (the
// model's Jinja template) or, for tokenizers without one, the simple template of
// chat-template.ts; encoded so that the template's special-token text becomes special ids; and
// the tokens of the assistant turns found, which completion-only SFT trains on (every assistant
// turn of a multi-turn conversation; everything else is masked).
//
// The assistant turns are found without knowing the template: for each assistant message k, the
// conversation before it rendered with add_generation_prompt (which ends with the opening of an
// assistant turn) must be, in tokens, a prefix of the conversation rendered through message k,
// which must in turn be a prefix of the whole. The tokens between the two are that turn. A
// template that renders earlier turns differently once later ones follow (one that drops old
// reasoning, say) is refused with an error, as the turns could not be found reliably. TRL finds
// them from {% generation %} tags in the template (assistant_only_loss), which few templates
// have; this needs none.
//
// A turn's span ends at its last stop token (EOS, "<|im_end|>"): what the template writes after
// it ("\n" in ChatML) is not the model's to predict.
import { type ChatMessage, applyChatTemplate } from './chat-template.js';
import type { Tokenizer } from './tokenizer.js';

/** The conversation as text: the tokenizer's chat template, or the simple one with its EOS. */
export function renderChat(tok: Tokenizer, messages: readonly ChatMessage[], addGenerationPrompt = false): string {
  if (!Array.isArray(messages))
    throw new TypeError(`renderChat: messages must be an array of {role, content}, got ${messages === null ? 'null' : typeof messages}`);
  if (tok.chatTemplate) return tok.chatTemplate.render(messages, { addGenerationPrompt });
  return applyChatTemplate([...messages], { addGenerationPrompt, eosToken: tok.eosToken });
}

/**
 * Token ids of text rendered by renderChat: special-token text becomes the special ids. A model's
 * own template writes its BOS itself (transformers encodes it without adding special tokens);
 * the simple template does not, so the tokenizer adds it.
 */
export function encodeChat(tok: Tokenizer, text: string): number[] {
  return tok.encode(text, { allowSpecialTokens: true, addSpecialTokens: tok.chatTemplate === undefined });
}

/** Where the chat template comes from, for errors. */
function templateName(tok: Tokenizer): string {
  return tok.chatTemplate ? `the chat template of ${tok.chatTemplate.file}` : 'the simple chat template';
}

/**
 * A conversation ending with the assistant's reply split into the prompt (everything before that
 * reply, ending with the opening of the assistant turn) and the completion (the reply and the
 * rest of its turn), with prompt + completion === renderChat(tok, messages).
 */
export function splitConversation(tok: Tokenizer, messages: readonly ChatMessage[]): { prompt: string; completion: string } {
  const last = messages[messages.length - 1];
  if (last === undefined || last.role !== 'assistant') {
    throw new Error(
      `splitConversation: the last message must be the assistant's reply to train on, got ` +
        `${last === undefined ? 'no messages' : `role "${last.role}"`}`,
    );
  }
  const prompt = renderChat(tok, messages.slice(0, -1), true);
  const whole = renderChat(tok, messages);
  if (!whole.startsWith(prompt)) {
    throw new Error(
      `${templateName(tok)} does not render the conversation as its prompt (with add_generation_prompt) followed by the reply, so ` +
        'the reply cannot be told apart',
    );
  }
  return { prompt, completion: whole.slice(prompt.length) };
}

/**
 * Token ids of a prompt and completion from splitConversation, encoded together and split where
 * the prompt's own ids end: encoded apart, a completion could start differently (Metaspace puts
 * "▁" before the start of a text, not after a special token).
 */
export function encodeChatSplit(tok: Tokenizer, prompt: string, completion: string): { prompt: number[]; completion: number[] } {
  const promptIds = encodeChat(tok, prompt);
  const ids = encodeChat(tok, prompt + completion);
  checkPrefix(tok, promptIds, ids, 'the prompt is not a prefix of the prompt and reply together');
  return { prompt: promptIds, completion: ids.slice(promptIds.length) };
}

export interface ConversationIds {
  ids: number[];
  /** True for the tokens of the assistant turns (what completion-only loss trains on). */
  assistantMask: boolean[];
}

function checkPrefix(tok: Tokenizer, shorter: number[], longer: number[], what: string): void {
  const n = shorter.findIndex((id, i) => id !== longer[i]);
  if (n === -1 && shorter.length <= longer.length) return;
  const at = n === -1 ? longer.length : n;
  throw new Error(
    `${templateName(tok)} is not prefix-stable: ${what} (they differ at token ${at}: ` +
      `${JSON.stringify(tok.decode(shorter.slice(at, at + 8)))} vs ${JSON.stringify(tok.decode(longer.slice(at, at + 8)))}), so ` +
      'the assistant turns cannot be found',
  );
}

/** The conversation's token ids and which of them belong to assistant turns (see the top of this file). */
export function encodeConversation(tok: Tokenizer, messages: readonly ChatMessage[]): ConversationIds {
  const ids = encodeChat(tok, renderChat(tok, messages));
  const assistantMask = ids.map(() => false);
  messages.forEach((m, k) => {
    if (m.role !== 'assistant') return;
    const before = encodeChat(tok, renderChat(tok, messages.slice(0, k), true));
    const through = k === messages.length - 1 ? ids : encodeChat(tok, renderChat(tok, messages.slice(0, k + 1)));
    checkPrefix(
      tok,
      before,
      through,
      `the conversation before messages[${k}], rendered with add_generation_prompt, is not a prefix of it rendered through messages[${k}]`,
    );
    checkPrefix(tok, through, ids, `the conversation through messages[${k}] is not a prefix of the whole conversation`);
    let end = through.length;
    while (end > before.length && !tok.stopTokenIds.includes(through[end - 1] as number)) end--;
    if (end === before.length) end = through.length; // no stop token: the whole turn
    for (let i = before.length; i < end; i++) assistantMask[i] = true;
  });
  return { ids, assistantMask };
}
