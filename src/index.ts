// torch-rlhf: RLHF for TypeScript on libtorch.
export { torch } from './torch.js';
export { Tensor, type TensorOrScalar, type BackwardOptions } from './tensor/tensor.js';
export type { DType, Device, Scalar, TensorOptions, NestedArray } from './tensor/types.js';
export { isHalfDtype, trainingDtype } from './tensor/types.js';
export type { MemoryInfo } from './tensor/runtime.js';
export * as F from './nn/functional.js';
export {
  lmHeadLogprobs,
  lmHeadLogprobsAsync,
  lmHeadCrossEntropy,
  lmHeadCrossEntropyAsync,
  type LMHeadLogprobs,
  type LMHeadLogprobsOptions,
} from './nn/lm-head-logprobs.js';
export { tokenLogprobs, tokenLogprobsAsync, headLogprobs, type TokenLogprobsOptions } from './models/token-logprobs.js';
export { AdamW, type AdamWOptions } from './optim/adamw.js';
export { SGD, type SGDOptions } from './optim/sgd.js';
export { Optimizer, type OptimizerStateDict } from './optim/optimizer.js';
export {
  saveSafetensors,
  saveSafetensorsSync,
  loadSafetensors,
  loadSafetensorsSync,
  readSafetensorsHeader,
  readSafetensorsHeaderSync,
  type SafetensorsHeader,
  type SafetensorsTensorInfo,
  type LoadSafetensorsOptions,
  type LoadedSafetensors,
  type TensorDict,
} from './io/safetensors.js';
export { writeFileAtomic, writeFileAtomicSync, writeJsonAtomic, writeJsonAtomicSync } from './io/atomic.js';
export { Module, ModuleList, type StateDict } from './nn/module.js';
export { Linear, Embedding, LayerNorm, Dropout } from './nn/layers.js';
export {
  GPT,
  GPT as CausalLM,
  type ModelConfig,
  type ModelConfigInput,
  isLlamaConfig,
  type GPTConfig,
  type GPTOutput,
  type GPTForwardOptions,
  type GenerateOptions,
  type GenerateOutput,
  type LayerKV,
  defaultGPTConfig,
  resolveGPTConfig,
} from './models/gpt.js';
export * from './tokenizers/index.js';
export * from './data/index.js';
export { RewardModel, lastTokenIndex, type RewardNormalization } from './models/reward-model.js';
export {
  loadGPTFamily,
  modelConfigFromHF,
  modelConfigToHF,
  type GPTFamily,
  type LoadGPTOptions,
  type LoadDType,
} from './models/gpt-checkpoint.js';
export {
  resolveLlamaConfig,
  llamaConfigFromHF,
  llamaConfigToHF,
  ropeInverseFrequencies,
  type LlamaConfig,
  type LlamaModelType,
  type RopeScaling,
} from './models/llama-config.js';
export { LlamaModel, LlamaDecoderLayer, LlamaAttention, LlamaMLP } from './models/llama.js';
export { Trainer, NonFiniteLossError, pickDevice, type StepOutput, type TrainResult } from './trainers/trainer.js';
export type { TrainOptions } from './trainers/abort.js';
export { defaultTrainingConfig, loadDtype, type TrainingConfig, type RunDtype } from './trainers/config.js';
export { CallbackList, type TrainerCallback, type TrainerControl, type CallbackState, type CallbackResult } from './trainers/callbacks.js';
export { TensorBoardWriter, type ReportTo } from './trainers/tensorboard.js';
export { plainProgress } from './trainers/progress.js';
export { lrFactor, type LrSchedulerType } from './trainers/schedule.js';
export { defaultSFTConfig, resolveSFTConfig, type SFTConfig } from './trainers/sft-config.js';
export {
  SFTTrainer,
  collateSequences,
  languageModelLoss,
  languageModelLossAsync,
  lmLossFromLogits,
  type SFTBatch,
  type SFTTrainerOptions,
} from './trainers/sft.js';
export { defaultRewardConfig, resolveRewardConfig, type RewardConfig } from './trainers/reward-config.js';
export {
  RewardTrainer,
  rankingLoss,
  collateRankings,
  type RewardBatch,
  type RewardTrainerOptions,
  type RankedExample,
} from './trainers/reward.js';
export { defaultDPOConfig, resolveDPOConfig, type DPOConfig } from './trainers/dpo-config.js';
export { DPOTrainer, collatePairs, type DPOTrainerOptions, type DPOExample, type DPOBatch } from './trainers/dpo.js';
export {
  dpoLoss,
  dpoMetrics,
  sequenceLogps,
  answerLengths,
  meanAnswerLogits,
  answerTokenMetrics,
  answerTokenStats,
  type AnswerTokenStats,
  type DPOLossType,
  type DPOLossOptions,
  type DPOLossOutput,
  type PairLogps,
} from './trainers/dpo-math.js';
export { frozenCopy } from './models/frozen-copy.js';
export {
  sftSequence,
  pack,
  truncateKeepingAnswer,
  encodePromptAnswer,
  rankedSequences,
  pairTexts,
  pairSequences,
  IGNORE_INDEX,
  type LabeledSequence,
} from './trainers/tokenize.js';
export { listCheckpoints } from './trainers/checkpoint.js';
export { ActorCritic, ValueHead, type PolicyValueOutput, type PolicyHiddenValues } from './models/actor-critic.js';
export { defaultPPOConfig, resolvePPOConfig, type PPOConfig } from './trainers/ppo-config.js';
export { PPOTrainer, type PPOTrainerOptions, type Rollout } from './trainers/ppo.js';
export * from './trainers/ppo-math.js';
export { makeDemoTask } from './demo/task.js';
export { buildReport, writeReport } from './report/index.js';
export * from './text/index.js';
export { GRPOTrainer } from './trainers/grpo.js';
export { defaultGRPOConfig, resolveGRPOConfig, type GRPOConfig } from './trainers/grpo-config.js';
export { RLOOTrainer } from './trainers/rloo.js';
export { defaultRLOOConfig, resolveRLOOConfig, type RLOOConfig } from './trainers/rloo-config.js';
export { GroupPolicyTrainer, type GroupPolicyOptions } from './trainers/group-policy.js';
export type { GroupPolicyConfig } from './trainers/group-policy-config.js';
export {
  groupAdvantages,
  leaveOneOutAdvantages,
  clippedSurrogate,
  klToReference,
  aggregateLoss,
  grpoLoss,
  nanMeanStd,
  type GRPOLossType,
  type GRPOLossOptions,
  type ScaleRewards,
} from './trainers/grpo-math.js';
export { scoreSamples, resolveRewardWeights, type RewardSource, type ScoredBatch } from './rewards/rewards.js';
export { RewardTimeoutError, rewardInContext } from './rewards/reward-call.js';
export {
  completionText,
  type AnyRewardFunction,
  type Conversational,
  type RewardFunction,
  type RewardInputs,
  type RewardScores,
} from './rewards/types.js';
export { exactMatch, formatMatch, lengthPenalty, type SyncRewardFunction } from './rewards/builtin.js';
export { builtinReward, BUILTIN_REWARDS } from './rewards/builtin-spec.js';
export {
  makeArithmeticTask,
  arithmeticTaskFiles,
  arithmeticPrompt,
  solveArithmetic,
  arithmeticAccuracy,
  arithmeticReward,
  ARITHMETIC_SFT_PLAN,
} from './demo/arithmetic.js';
export * from './lora/index.js';
export {
  ProcessGroup,
  Work,
  initProcessGroup,
  getProcessGroup,
  destroyProcessGroup,
  launchEnv,
  type ProcessGroupOptions,
  type LaunchEnv,
  type Backend,
  type ReduceOp,
} from './distributed/process-group.js';
export { DataParallel, shardBatch, bucketsOf, BUCKET_CAP_MB } from './distributed/ddp.js';
