// Text-level helpers beside the tensor-level API: generation, reward scores and log-probs from
// strings, with the encoding, truncation, special tokens and disposal done as the trainers do.
export { generateText, generationLengths, encodePrompts, type GenerateTextOptions } from './generate.js';
export { generateTextStream, type GenerateTextStreamOptions } from './stream.js';
export { scoreTexts, rewardScores, promptCompletionIds, type ScoreTextsOptions } from './score.js';
export { textLogprobs, type TextLogprobs } from './logprobs.js';
