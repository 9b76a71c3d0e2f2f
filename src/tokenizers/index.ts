// Tokenizers of the decoders: bytes for models trained from scratch, GPT-2 BPE, any Hugging Face
// tokenizer.json (Llama, Qwen2, …) with its special tokens and chat template, one loader for all,
// and the chat templates used by the trainers.
export { type Tokenizer, type EncodeOptions, type DecodeOptions, loadTokenizer } from './tokenizer.js';
export { ByteTokenizer } from './byte-tokenizer.js';
export { GPT2Tokenizer } from './gpt2-bpe.js';
export { HFTokenizer } from './hf-tokenizer.js';
export { type ChatTemplate, type ChatRenderOptions, JinjaChatTemplate } from './jinja-template.js';
export {
  applyChatTemplate,
  splitPromptCompletion,
  type ChatMessage,
  type ChatRole,
  type ChatTemplateOptions,
  type PromptCompletion,
} from './chat-template.js';
export { type ConversationIds, encodeChat, encodeChatSplit, encodeConversation, renderChat, splitConversation } from './conversation.js';
export { type Prompt, type EncodedPrompt, encodePrompt, encodePromptBatch, promptText, specialTokenIn } from './prompt.js';
