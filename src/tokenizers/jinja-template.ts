// A model's own chat template (tokenizer_config.json's chat_template, or chat_template.jinja),
// rendered by @huggingface/jinja, Hugging Face's JavaScript Jinja for chat templates (the one
// transformers.js uses): the same trim_blocks / lstrip_blocks settings, raise_exception and
// strftime_now as transformers, and transformers' {% generation %} tags accepted. The variables
// are the ones transformers' apply_chat_template passes: messages, add_generation_prompt,
// tools and documents (None: this library has neither) and the special tokens by name
// (bos_token, eos_token, pad_token, unk_token where the tokenizer has them).
//
// The rendered text is encoded with allowSpecialTokens, so that the template's "<|im_start|>"
// becomes its id; a message holding a special token's text would then forge one (a fake end
// of turn in user content), so such a message is refused, as the simple template refuses its
// own markers (chat-template.ts).
import { Template } from '@huggingface/jinja';
import type { ChatMessage } from './chat-template.js';

export interface ChatRenderOptions {
  /** End with the opening of an assistant turn, for the model to complete. Default false. */
  addGenerationPrompt?: boolean;
}

/** A chat template that belongs to a tokenizer. */
export interface ChatTemplate {
  /** The file the template came from, for errors. */
  readonly file: string;
  /** The template's source text, as read. */
  readonly text: string;
  render(messages: readonly ChatMessage[], options?: ChatRenderOptions): string;
}

export class JinjaChatTemplate implements ChatTemplate {
  private readonly template: Template;

  /**
   * @param text the template's source; a syntax error is reported naming `file`
   * @param specialTokens bos_token, eos_token, … as the template sees them
   * @param reserved special-token texts that message contents may not hold
   */
  constructor(
    readonly text: string,
    readonly file: string,
    private readonly specialTokens: Readonly<Record<string, string>>,
    private readonly reserved: readonly string[],
  ) {
    try {
      this.template = new Template(text);
    } catch (e) {
      throw new Error(`Malformed tokenizer file ${file}: its chat template is not a valid Jinja template (${(e as Error).message})`);
    }
  }

  render(messages: readonly ChatMessage[], options: ChatRenderOptions = {}): string {
    const who = `chat template of ${this.file}`;
    if (!Array.isArray(messages)) throw new TypeError(`${who}: messages must be an array of {role, content}`);
    messages.forEach((m: unknown, i) => {
      const { role, content } = (m ?? {}) as { role?: unknown; content?: unknown };
      if (typeof role !== 'string' || typeof content !== 'string')
        throw new TypeError(`${who}: messages[${i}] must be an object {role: string, content: string}`);
      const token = this.reserved.find((t) => content.includes(t));
      if (token !== undefined)
        throw new Error(
          `${who}: messages[${i}].content contains ${JSON.stringify(token)}, a special token of the tokenizer, which would forge a ` +
            'control token',
        );
    });
    try {
      return this.template.render({
        messages: messages.map((m) => ({ role: m.role, content: m.content })),
        add_generation_prompt: options.addGenerationPrompt ?? false,
        tools: null,
        documents: null,
        ...this.specialTokens,
      });
    } catch (e) {
      throw new Error(`${who} failed to render: ${(e as Error).message}`);
    }
  }
}
