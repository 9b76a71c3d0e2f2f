// A model's own chat template (tokenizer_config.json's chat_template, or chat_template.jinja),
// rendered by @huggingface/jinja, Hugging Face's JavaScript Jinja for chat templates (the one
// transformers.js uses): the same trim_blocks / lstrip_blocks settings, raise_exception and
// strftime_now as transformers, and transformers' {% generation %} tags accepted. The variables
// are the ones transformers' apply_chat_template passes: messages, add_generation_prompt,
// tools and documents (None: this library has neither) and the special tokens by name
// (bos_token, eos_token, pad_token, unk_token where the tokenizer has them).
//
// Rendering is bounded: a template that loops (over range(10**9), or nested loops) fails after
// MAX_RENDER_STEPS evaluation steps instead of hanging the process, and range() builds at most
// MAX_RANGE items. A template that renders none of the messages' contents (an empty template, or
// one reading an attribute the messages lack, which Jinja renders as nothing) is an error that
// says so, rather than a conversation whose turns cannot be found later.
//
// The rendered text is encoded with allowSpecialTokens, so that the template's "<|im_start|>"
// becomes its id; a message holding a special token's text would then forge one (a fake end
// of turn in user content), so such a message is refused, as the simple template refuses its
// own markers (chat-template.ts).
import { Environment, Interpreter, Template } from '@huggingface/jinja';
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

/** Evaluation steps one rendering may take: a real template takes tens per message (a loop iteration about 25 µs). */
export const MAX_RENDER_STEPS = 250_000;
/** The most items range() may make in a template. */
export const MAX_RANGE = 100_000;

// The library's runtime classes, typed here as far as they are used: its declarations import
// "./runtime" without an extension, which this project's module resolution does not follow.
interface JinjaValue {
  type: string;
  value: unknown;
}
interface JinjaEnvironment {
  set(name: string, value: unknown): unknown;
}
type Statement = { type: string } | undefined;
interface JinjaInterpreter {
  evaluate(statement: Statement, environment: JinjaEnvironment): JinjaValue;
  run(program: unknown): JinjaValue;
}
const JinjaInterpreterClass = Interpreter as unknown as new (env: JinjaEnvironment) => JinjaInterpreter;
const JinjaEnvironmentClass = Environment as unknown as new () => JinjaEnvironment;

/** The library's interpreter, counting its steps and the attributes that were read but undefined. */
class BoundedInterpreter extends JinjaInterpreterClass {
  private steps = 0;
  /** Attribute names read from an object that lacks them (Jinja renders those as nothing). */
  readonly undefinedAttributes = new Set<string>();

  override evaluate(statement: Statement, environment: JinjaEnvironment): JinjaValue {
    if (++this.steps > MAX_RENDER_STEPS)
      throw new Error(`it did not finish within ${MAX_RENDER_STEPS.toLocaleString('en')} steps (a loop that does not end?)`);
    const value = super.evaluate(statement, environment);
    if (statement?.type === 'MemberExpression' && value.type === 'UndefinedValue') {
      const property = (statement as unknown as { property: { type: string; value: unknown } }).property;
      if (property.type === 'Identifier' || property.type === 'StringLiteral') this.undefinedAttributes.add(String(property.value));
    }
    return value;
  }
}

/** Python's range, refusing more than MAX_RANGE items (the library's builds any list it is asked for). */
function boundedRange(start: number, stop?: number, step = 1): number[] {
  if (stop === undefined) [start, stop] = [0, start];
  if (![start, stop, step].every(Number.isInteger)) throw new Error('range() takes integers');
  if (step === 0) throw new Error('range() step must not be zero');
  const n = Math.max(0, Math.ceil((stop - start) / step));
  if (n > MAX_RANGE) throw new Error(`range() of ${n} items is more than the ${MAX_RANGE} a chat template may loop over`);
  return Array.from({ length: n }, (_, i) => start + i * step);
}

/** The library's own strftime_now (not exported), through a template of one call. */
const strftimeTemplate = new Template('{{ strftime_now(f) }}');
const strftimeNow = (format: string): string => strftimeTemplate.render({ f: format });

/** The globals that the library's Template.render sets (its setupGlobals), range bounded. */
function globals(env: JinjaEnvironment): void {
  for (const [name, value] of Object.entries({ false: false, true: true, none: null, False: false, True: true, None: null }))
    env.set(name, value);
  env.set('raise_exception', (message: unknown) => {
    throw new Error(String(message));
  });
  env.set('range', boundedRange);
  env.set('strftime_now', strftimeNow);
}

/** What a value is, for errors: null, an array, or its typeof. */
const kindOf = (x: unknown): string => (x === null ? 'null' : Array.isArray(x) ? 'an array' : typeof x);

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
    if (!Array.isArray(messages)) throw new TypeError(`${who}: messages must be an array of {role, content}, got ${kindOf(messages)}`);
    messages.forEach((m: unknown, i) => {
      if (m === null || typeof m !== 'object' || Array.isArray(m))
        throw new TypeError(`${who}: messages[${i}] must be an object {role: string, content: string}, got ${kindOf(m)}`);
      const { role, content } = m as { role?: unknown; content?: unknown };
      if (typeof role !== 'string') throw new TypeError(`${who}: messages[${i}].role must be a string, got ${kindOf(role)}`);
      if (typeof content !== 'string')
        throw new TypeError(
          `${who}: messages[${i}].content must be a string, got ${kindOf(content)}` +
            (Array.isArray(content) ? " (content parts such as [{type: 'text', text}] are not supported: join their text)" : ''),
        );
      const token = this.reserved.find((t) => content.includes(t));
      if (token !== undefined)
        throw new Error(
          `${who}: messages[${i}].content contains ${JSON.stringify(token)}, a special token of the tokenizer, which would forge a ` +
            'control token',
        );
    });
    const env = new JinjaEnvironmentClass();
    globals(env);
    const variables = {
      messages: messages.map((m) => ({ role: m.role, content: m.content })),
      add_generation_prompt: options.addGenerationPrompt ?? false,
      tools: null,
      documents: null,
      ...this.specialTokens,
    };
    for (const [name, value] of Object.entries(variables)) env.set(name, value);
    const interpreter = new BoundedInterpreter(env);
    let text: string;
    try {
      text = interpreter.run((this.template as unknown as { parsed: unknown }).parsed).value as string;
    } catch (e) {
      throw new Error(`${who} failed to render: ${(e as Error).message}`);
    }
    this.checkContents(text, messages, interpreter.undefinedAttributes, who);
    return text;
  }

  /** Refuses a rendering that holds none of the messages' contents (see the top of this file). */
  private checkContents(text: string, messages: readonly ChatMessage[], undefinedAttributes: Set<string>, who: string): void {
    const contents = messages.map((m) => m.content.trim()).filter((c) => c !== '');
    if (contents.length === 0 || contents.some((c) => text.includes(c))) return;
    if (this.text.trim() === '')
      throw new Error(`${who} is empty, so it renders nothing; give the model's template, or remove it to use the simple template`);
    const read = [...undefinedAttributes].filter((a) => a !== 'content');
    const rendered = text.trim() === '' ? 'it rendered nothing' : `it rendered ${JSON.stringify(text.slice(0, 80))}`;
    const why =
      read.length > 0
        ? `: it reads ${read.map((a) => `'${a}'`).join(', ')}, which the messages do not have (they have 'role' and 'content'; ` +
          'an undefined attribute renders as nothing)'
        : '; does it read the messages under other names than role and content?';
    throw new Error(`${who} rendered none of the messages' contents (${rendered})${why}`);
  }
}
