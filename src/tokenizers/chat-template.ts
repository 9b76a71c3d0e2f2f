// A simple, readable chat format for models trained with this library. Each message is a
// header line naming the role, then the content; assistant turns end with the EOS text so the
// model learns to stop; turns are joined by "\n":
//
//   <|system|>
//   You are terse.
//   <|user|>
//   Hi
//   <|assistant|>
//   Hello.<|endoftext|>
//   <|user|>
//   Bye
//   <|assistant|>
//                         <- addGenerationPrompt: the header the model continues from
//
// The prompt always ends right after a header's "\n", so for a conversation ending with an
// assistant turn, applyChatTemplate(messages) === prompt + completion of splitPromptCompletion,
// and encoding prompt and completion separately gives the same tokens as encoding the whole
// text (GPT-2's pre-tokenizer never joins a "\n" with the letter after it). Encode with
// allowSpecialTokens so the EOS text becomes the EOS id.

export type ChatRole = 'system' | 'user' | 'assistant';

export interface ChatMessage {
  role: ChatRole;
  content: string;
}

export interface ChatTemplateOptions {
  /** End with an open assistant header for the model to complete. Default false. */
  addGenerationPrompt?: boolean;
  /** Text that ends each assistant turn: the tokenizer's eosToken. Default "<|endoftext|>". */
  eosToken?: string;
}

export interface PromptCompletion {
  /** Everything up to and including the last "<|assistant|>\n" header: masked out of the SFT loss. */
  prompt: string;
  /** The last assistant message followed by the EOS text: what the SFT loss trains on. */
  completion: string;
}

const ROLES: readonly ChatRole[] = ['system', 'user', 'assistant'];
const DEFAULT_EOS = '<|endoftext|>';

function header(role: ChatRole): string {
  return `<|${role}|>\n`;
}

function validate(messages: unknown, eosToken: string, who: string): asserts messages is ChatMessage[] {
  if (!Array.isArray(messages)) throw new TypeError(`${who}: messages must be an array of {role, content}`);
  if (typeof eosToken !== 'string' || eosToken === '') throw new TypeError(`${who}: eosToken must be a non-empty string`);
  // Content containing these would be indistinguishable from real turn boundaries.
  const reserved = [...ROLES.map((r) => `<|${r}|>`), eosToken];
  messages.forEach((m: unknown, i) => {
    if (m === null || typeof m !== 'object') throw new TypeError(`${who}: messages[${i}] must be an object {role, content}`);
    const { role, content } = m as { role?: unknown; content?: unknown };
    if (typeof role !== 'string' || !(ROLES as readonly string[]).includes(role)) {
      throw new Error(`${who}: messages[${i}].role is ${JSON.stringify(role)}, expected one of ${ROLES.map((r) => `"${r}"`).join(', ')}`);
    }
    if (typeof content !== 'string')
      throw new TypeError(`${who}: messages[${i}].content must be a string, got ${content === null ? 'null' : typeof content}`);
    if (role === 'system' && i !== 0) throw new Error(`${who}: messages[${i}] is a system message; only the first message may be one`);
    const marker = reserved.find((r) => content.includes(r));
    if (marker !== undefined)
      throw new Error(`${who}: messages[${i}].content contains ${JSON.stringify(marker)}, which the chat template reserves`);
  });
}

function render(messages: ChatMessage[], addGenerationPrompt: boolean, eosToken: string): string {
  const turns = messages.map((m) => header(m.role) + m.content + (m.role === 'assistant' ? eosToken : ''));
  if (addGenerationPrompt) turns.push(header('assistant'));
  return turns.join('\n');
}

/** Renders a conversation as text (see the format above). */
export function applyChatTemplate(messages: ChatMessage[], options: ChatTemplateOptions = {}): string {
  const eosToken = options.eosToken ?? DEFAULT_EOS;
  validate(messages, eosToken, 'applyChatTemplate');
  if (messages.length === 0 && !options.addGenerationPrompt) throw new Error('applyChatTemplate: messages is empty');
  return render(messages, options.addGenerationPrompt ?? false, eosToken);
}

/**
 * Splits a conversation that ends with an assistant message into the prompt (all earlier turns
 * plus the last assistant header) and the completion (that message plus the EOS text), with
 * prompt + completion === applyChatTemplate(messages).
 */
export function splitPromptCompletion(messages: ChatMessage[], options: Pick<ChatTemplateOptions, 'eosToken'> = {}): PromptCompletion {
  const eosToken = options.eosToken ?? DEFAULT_EOS;
  validate(messages, eosToken, 'splitPromptCompletion');
  const last = messages[messages.length - 1];
  if (last === undefined || last.role !== 'assistant') {
    throw new Error(
      `splitPromptCompletion: the last message must be the assistant's reply to train on, got ` +
        `${last === undefined ? 'no messages' : `role "${last.role}"`}`,
    );
  }
  return {
    prompt: render(messages.slice(0, -1), true, eosToken),
    completion: last.content + eosToken,
  };
}
