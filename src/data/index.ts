// Datasets for the three RLHF stages in TRL's JSONL formats (SFT, preferences, PPO prompts),
// streamed and validated with file:line errors, the same rows given in code (index N errors), plus the seeded shuffle the trainers share.
export { readJsonl, type JsonlLine, type ReadJsonlOptions } from './jsonl.js';
export {
  parseSFTExample,
  parsePreferenceExample,
  parsePreferencePair,
  parsePromptExample,
  hasEmptyAnswer,
  type SFTExample,
  type PreferenceExample,
  type PreferencePair,
  type PromptExample,
} from './formats.js';
export {
  loadSFTDataset,
  loadPreferenceDataset,
  loadPreferencePairDataset,
  loadPromptDataset,
  readExamples,
  splitDataset,
  type LoadDatasetOptions,
  type LoadedDataset,
  type SkippedLine,
} from './datasets.js';
export {
  parseRecords,
  parseSFTRecords,
  parsePreferenceRecords,
  parsePreferencePairRecords,
  parsePromptRecords,
  type SFTRecord,
  type PreferenceRecord,
  type PreferencePairRecord,
  type PromptRecord,
  type SFTData,
  type PreferenceData,
  type PreferencePairData,
  type PromptData,
} from './records.js';
export { mulberry32, shuffle, type Rng } from './random.js';
