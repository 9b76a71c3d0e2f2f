// Tokenizers of the GPT decoder: bytes for models trained from scratch, GPT-2 BPE for
// pretrained ones, one loader for both, and the chat template used by the trainers.
export { type Tokenizer, type EncodeOptions, type DecodeOptions, loadTokenizer } from './tokenizer.js';
export { ByteTokenizer } from './byte-tokenizer.js';
export { GPT2Tokenizer } from './gpt2-bpe.js';
export {
  applyChatTemplate,
  splitPromptCompletion,
  type ChatMessage,
  type ChatRole,
  type ChatTemplateOptions,
  type PromptCompletion,
} from './chat-template.js';
