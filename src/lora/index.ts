// LoRA adapters in PEFT's format: the config, the adapted layer, putting adapters in and taking
// them out, their operations (merge, disable), and PEFT's adapter files.
export { defaultLoraConfig, resolveLoraConfig, loraScaling, type LoraConfig, type LoraConfigInput } from './config.js';
export { LoRALinear, type LoRALayerSpec } from './lora-linear.js';
export { applyLora, mergeAndUnload, type ApplyLoraOptions } from './inject.js';
export {
  loraAdapter,
  hasLora,
  mergeAdapter,
  unmergeAdapter,
  isMerged,
  setAdapterEnabled,
  withAdapterDisabled,
  adapterParameters,
  type LoraAdapter,
} from './adapter.js';
export {
  saveAdapter,
  loadAdapterWeights,
  readAdapterConfig,
  isAdapterDir,
  ADAPTER_CONFIG_FILE,
  ADAPTER_WEIGHTS_FILE,
  type PeftTaskType,
} from './peft-files.js';
export { resolveBaseModelDir } from './load-adapter.js';
