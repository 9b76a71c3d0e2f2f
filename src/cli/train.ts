// The training commands (`rlhf sft`, `rm`, `ppo`, `dpo`, `grpo`, `rloo`): one table of what each
// declares (its data flags, its trainer's config table) and one function per command that loads
// what the flags name and hands it to the trainer. Every command also gets the flags all training
// shares (LoRA, --base-model, --skip-invalid), its starting-point help and one flag per config field.
import type { Command } from 'commander';
import { loadPreferenceDataset, loadPreferencePairDataset, loadPromptDataset, loadSFTDataset } from '../data/datasets.js';
import type { PromptExample } from '../data/formats.js';
import { ActorCritic } from '../models/actor-critic.js';
import { GPT } from '../models/gpt.js';
import { RewardModel } from '../models/reward-model.js';
import { builtinReward } from '../rewards/builtin-spec.js';
import { checkRewardColumns } from '../rewards/rewards.js';
import type { RewardFunction } from '../rewards/types.js';
import { parseDevice, type Device } from '../tensor/types.js';
import type { Field } from '../trainers/config-fields.js';
import { loadDtype, runFields, type RunDtype } from '../trainers/config.js';
import { DPOTrainer } from '../trainers/dpo.js';
import { defaultDPOConfig, dpoFields, type DPOConfig } from '../trainers/dpo-config.js';
import { GRPOTrainer } from '../trainers/grpo.js';
import { defaultGRPOConfig, grpoFields, type GRPOConfig } from '../trainers/grpo-config.js';
import { PPOTrainer } from '../trainers/ppo.js';
import { defaultPPOConfig, ppoFields, type PPOConfig } from '../trainers/ppo-config.js';
import { RewardTrainer } from '../trainers/reward.js';
import { defaultRewardConfig, rewardFields, type RewardConfig } from '../trainers/reward-config.js';
import { RLOOTrainer } from '../trainers/rloo.js';
import { defaultRLOOConfig, rlooFields, type RLOOConfig } from '../trainers/rloo-config.js';
import { SFTTrainer } from '../trainers/sft.js';
import { defaultSFTConfig, sftFields, type SFTConfig } from '../trainers/sft-config.js';
import { startingPointHelp, type TrainerStage } from '../trainers/starting-point.js';
import { pickDevice } from '../trainers/trainer.js';
import { emptyNote, loadData, requireFile, runSummary, str, type Opts } from './inputs.js';
import { addBaseModelFlag, addLoraFlags, loraFromFlags, tokenizerOf, trainsAnAdapter } from './lora.js';
import { modelFromSpec } from './models.js';
import { addConfigFlags, addSkipInvalidFlag, configFromFlags } from './options.js';
import { presetsHelpText } from './presets-help.js';
import { collect, parseRewardWeights, rewardSourcesFromFlags } from './rewards.js';
import { seedRun } from './seed.js';

/**
 * Flag values as a trainer's config: typed here only to be handed over, since every trainer
 * validates each field by its rules (a wrong value is an error naming the field).
 */
const handOver = <C>(fields: Record<string, unknown>): Partial<C> & { outputDir: string } => fields as Partial<C> & { outputDir: string };

/** What a training command needs to know of its trainer: its config's name, field table and TRL defaults. */
interface Stage {
  readonly kind: TrainerStage;
  readonly name: string;
  readonly fields: Readonly<Record<string, Field<unknown>>>;
  readonly defaults: Readonly<Record<string, unknown>>;
}
const STAGES = {
  sft: { kind: 'sft', name: 'SFTConfig', fields: sftFields, defaults: defaultSFTConfig },
  rm: { kind: 'reward', name: 'RewardConfig', fields: rewardFields, defaults: defaultRewardConfig },
  ppo: { kind: 'ppo', name: 'PPOConfig', fields: ppoFields, defaults: defaultPPOConfig },
  dpo: { kind: 'dpo', name: 'DPOConfig', fields: dpoFields, defaults: defaultDPOConfig },
  grpo: { kind: 'grpo', name: 'GRPOConfig', fields: grpoFields, defaults: defaultGRPOConfig },
  rloo: { kind: 'rloo', name: 'RLOOConfig', fields: rlooFields, defaults: defaultRLOOConfig },
} as const satisfies Record<string, Stage>;

/**
 * A training command's config from its flags (and --config), with --out as outputDir, the device
 * it names, and the run seeded (before any model is made, so a seed gives the same run).
 */
function stageConfig(o: Opts, stage: Stage): { config: Record<string, unknown>; device: Device; dtype: RunDtype } {
  const config: Record<string, unknown> = { ...configFromFlags(o, stage.fields, stage.name), outputDir: str(o, 'out') };
  const device = pickDevice(parseDevice(config.device ?? 'auto', '--device', true));
  const dtype = config.dtype ?? runFields.dtype.default;
  const [ok, what] = runFields.dtype.check;
  if (!ok(dtype)) throw new Error(`--dtype must be ${what}, got ${JSON.stringify(dtype)}`);
  seedRun(config, stage.defaults.seed as number, stage.name);
  return { config, device, dtype: dtype as RunDtype };
}

/**
 * The dtypes of a run's models (see RunConfig.dtype): `trained`, of the model that trains (its
 * frozen base under LoRA, else float32 unless named), and `frozen`, of the reference and reward models.
 */
function runDtypes(dtype: RunDtype, device: Device, o: Opts, modelDir?: string): { trained: RunDtype; frozen: RunDtype } {
  return { trained: loadDtype(dtype, !trainsAnAdapter(o, modelDir), device), frozen: loadDtype(dtype, false, device) };
}

/** The held-out prompts and extra judges that --eval-prompts and --eval-reward name. */
async function evalPromptsFromFlags(o: Opts): Promise<{ evalDataset: PromptExample[] | undefined; evalRewards: RewardFunction[] }> {
  const evalDataset = o.evalPrompts ? await loadData(loadPromptDataset, o, '--eval-prompts') : undefined;
  const evalRewards = ((o.evalReward as string[] | undefined) ?? []).map((spec) => builtinReward(spec));
  return { evalDataset, evalRewards };
}

async function sft(o: Opts): Promise<void> {
  const { config, device, dtype } = stageConfig(o, STAGES.sft);
  const data = await loadData(loadSFTDataset, o, '--data');
  const evalData = o.evalData ? await loadData(loadSFTDataset, o, '--eval-data') : undefined;
  const spec = str(o, 'model');
  const { trained } = runDtypes(dtype, device, o, spec);
  const { model, tokenizer, source } = await modelFromSpec(spec, device, o.baseModel as string | undefined, trained);
  const t = new SFTTrainer({
    model,
    tokenizer,
    config: handOver<SFTConfig>(config),
    trainDataset: data,
    evalDataset: evalData,
    peftConfig: loraFromFlags(o, model),
  });
  runSummary(
    `rlhf sft: ${source}, ${model.numParameters().toLocaleString()} parameters, ` +
      `${data.length} examples${emptyNote(data)} → ${config.outputDir}`,
  );
  const r = await t.train();
  console.log(JSON.stringify({ stage: 'sft', globalStep: r.globalStep, ...r.metrics, outputDir: r.outputDir }));
}

async function rm(o: Opts): Promise<void> {
  const { config, device, dtype } = stageConfig(o, STAGES.rm);
  const data = await loadData(loadPreferenceDataset, o, '--data');
  const norm = o.normalizationData ? await loadData(loadSFTDataset, o, '--normalization-data') : undefined;
  const dir = str(o, 'model');
  requireFile(dir, '--model');
  const { trained } = runDtypes(dtype, device, o, dir);
  const model = await RewardModel.fromTrunk(dir, { device, baseModel: o.baseModel as string | undefined, dtype: trained });
  const tokenizer = await tokenizerOf(dir, model);
  const t = new RewardTrainer({
    model,
    tokenizer,
    config: handOver<RewardConfig>(config),
    trainDataset: data,
    normalizationDataset: norm,
    peftConfig: loraFromFlags(o),
  });
  runSummary(`rlhf rm: trunk of ${dir}, ${data.length} rankings${emptyNote(data)} → ${config.outputDir}`);
  const r = await t.train();
  console.log(
    JSON.stringify({ stage: 'rm', globalStep: r.globalStep, ...r.metrics, normalization: model.normalization, outputDir: r.outputDir }),
  );
}

async function ppo(o: Opts): Promise<void> {
  const { config, device, dtype } = stageConfig(o, STAGES.ppo);
  const prompts = await loadData(loadPromptDataset, o, '--prompts');
  const { evalDataset, evalRewards } = await evalPromptsFromFlags(o);
  const policyDir = requireFile(str(o, 'policy'), '--policy');
  const rmDir = requireFile(str(o, 'rewardModel'), '--reward-model');
  const ptx = o.ptxData ? await loadData(loadSFTDataset, o, '--ptx-data') : undefined;
  const baseModel = o.baseModel as string | undefined;
  const peftConfig = loraFromFlags(o);
  const { trained, frozen } = runDtypes(dtype, device, o, policyDir);
  const model = await ActorCritic.fromTrunk(policyDir, {
    device,
    separateCritic: !!o.separateCritic,
    rewardModelDir: rmDir,
    baseModel,
    dtype: trained,
  });
  // With a new LoRA adapter the reference is the policy with its adapter off: no second copy.
  const refModel = peftConfig ? undefined : await GPT.load(policyDir, { device, baseModel, dtype: frozen });
  const rewardModel = await RewardModel.load(rmDir, { device, dtype: frozen });
  const tokenizer = await tokenizerOf(policyDir, model);
  const t = new PPOTrainer({
    model,
    refModel,
    rewardModel,
    tokenizer,
    config: handOver<PPOConfig>(config),
    prompts,
    evalDataset,
    evalRewards,
    ptxDataset: ptx,
    peftConfig,
  });
  runSummary(`rlhf ppo: policy ${policyDir}, reward model ${rmDir}, ${prompts.length} prompts → ${config.outputDir}`);
  const r = await t.train();
  console.log(JSON.stringify({ stage: 'ppo', globalStep: r.globalStep, ...r.metrics, outputDir: r.outputDir }));
}

async function dpo(o: Opts): Promise<void> {
  const { config: flags, device, dtype } = stageConfig(o, STAGES.dpo);
  const config = handOver<DPOConfig>(flags);
  const data = await loadData(loadPreferencePairDataset, o, '--data');
  const evalData = o.evalData ? await loadData(loadPreferencePairDataset, o, '--eval-data') : undefined;
  const refDir = o.refModel ? requireFile(str(o, 'refModel'), '--ref-model') : undefined;
  const spec = str(o, 'model');
  const { trained, frozen } = runDtypes(dtype, device, o, spec);
  const { model, tokenizer, source } = await modelFromSpec(spec, device, o.baseModel as string | undefined, trained);
  const refModel = refDir ? await GPT.load(refDir, { device, dtype: frozen }) : undefined;
  const peftConfig = loraFromFlags(o, model);
  const t = new DPOTrainer({ model, refModel, tokenizer, config, trainDataset: data, evalDataset: evalData, peftConfig });
  const reference = refDir ?? (t.refModel ? 'a frozen copy' : peftConfig && !config.referenceFree ? 'the base (adapter off)' : 'none kept');
  runSummary(
    `rlhf dpo: ${source}, ${model.numParameters().toLocaleString()} parameters, ` +
      `${data.length} pairs${emptyNote(data)}, reference ${reference} → ${config.outputDir}`,
  );
  const r = await t.train();
  console.log(JSON.stringify({ stage: 'dpo', globalStep: r.globalStep, ...r.metrics, outputDir: r.outputDir }));
}

/** rlhf grpo / rlhf rloo: the group-sampled online trainers, on the prompts and the rewards the flags name. */
async function groupPolicy(kind: 'grpo' | 'rloo', o: Opts): Promise<void> {
  const { config: flags, device, dtype } = stageConfig(o, STAGES[kind]);
  const weights = parseRewardWeights(flags.rewardWeights);
  if (weights) flags.rewardWeights = weights;
  // A null default takes no type from itself: epsilonHigh's flag is a number.
  if (typeof flags.epsilonHigh === 'string') flags.epsilonHigh = flags.epsilonHigh === 'null' ? null : Number(flags.epsilonHigh);
  const config = handOver<GRPOConfig & RLOOConfig>(flags);
  const prompts = await loadData(loadPromptDataset, o, '--prompts');
  const { evalDataset, evalRewards } = await evalPromptsFromFlags(o);
  const spec = str(o, 'model');
  const { trained, frozen } = runDtypes(dtype, device, o, spec);
  const rewards = await rewardSourcesFromFlags(o, device, frozen);
  // A reward's missing column fails here, before the policy loads (the trainer checks again).
  checkRewardColumns(rewards, prompts, '--prompts');
  if (evalDataset) checkRewardColumns([...rewards, ...evalRewards], evalDataset, '--eval-prompts');
  const { model, tokenizer, source } = await modelFromSpec(spec, device, o.baseModel as string | undefined, trained);
  const peftConfig = loraFromFlags(o, model);
  const args = { model, tokenizer, prompts, evalDataset, evalRewards, rewards, config, peftConfig };
  const t = kind === 'grpo' ? new GRPOTrainer(args) : new RLOOTrainer(args);
  runSummary(
    `rlhf ${kind}: ${source}, ${prompts.length} prompts, ${rewards.length} reward(s), ` +
      `${t.config.numGenerations} completions per prompt → ${config.outputDir}`,
  );
  const r = await t.train();
  console.log(JSON.stringify({ stage: kind, globalStep: r.globalStep, ...r.metrics, outputDir: r.outputDir }));
}

/** A flag: its commander spelling, its help, and whether it may be given more than once. */
type Flag = readonly [flags: string, help: string, repeatable?: 'repeatable'];

const EVAL_PROMPT_FLAGS: readonly Flag[] = [
  [
    '--eval-prompts <prompts.jsonl>',
    'held-out {prompt, …} lines: answered greedily and scored before training, every --eval-steps and at the end ' +
      '(eval/* metrics, eval_samples.jsonl)',
  ],
  [
    '--eval-reward <spec>',
    'a built-in reward that also judges the held-out answers, logged as eval/<name>, e.g. exact-match:answer (repeatable)',
    'repeatable',
  ],
];
const REWARD_FLAGS: readonly Flag[] = [
  ['--reward-model <dir>', 'a reward model (repeatable)', 'repeatable'],
  ['--reward-fn <file[#name]>', "a reward function: the module's default export, or the named one (repeatable)", 'repeatable'],
  ['--reward <spec>', 'a built-in reward: exact-match[:COLUMN[:REGEX]], format:REGEX, length:MAX[:PENALTY] (repeatable)', 'repeatable'],
];
const OUT: Flag = ['--out <dir>', 'run directory'];

/** One training command: what it says, the flags it requires and takes, and what runs it. */
interface TrainingCommand {
  readonly stage: keyof typeof STAGES;
  readonly description: string;
  /** Whether --model takes a preset (then --help lists them). */
  readonly presets: boolean;
  readonly required: readonly Flag[];
  readonly options: readonly Flag[];
  readonly run: (o: Opts) => Promise<void>;
}

const TRAINING_COMMANDS: readonly TrainingCommand[] = [
  {
    stage: 'sft',
    description: 'supervised fine-tuning on demonstrations ({prompt, completion} or {messages} JSONL)',
    presets: true,
    required: [
      [
        '--model <preset|config.json|dir>',
        'a preset (tiny, small, medium, llama-tiny: see below), a GPT config file, ' +
          'or a model directory (e.g. GPT-2 with its tokenizer files)',
      ],
      ['--data <sft.jsonl>', 'training data'],
      OUT,
    ],
    options: [['--eval-data <file.jsonl>', 'held-out data (default: evalFraction of --data)']],
    run: sft,
  },
  {
    stage: 'rm',
    description: 'train a reward model on rankings ({prompt, chosen, rejected} or {prompt, completions}, detected per line)',
    presets: false,
    required: [
      ['--model <sft-dir>', 'the SFT run directory (its trunk starts the reward model)'],
      ['--data <preferences.jsonl>', 'rankings'],
      OUT,
    ],
    options: [['--normalization-data <sft.jsonl>', 'demonstrations that should score mean 0 (default: the best answers)']],
    run: rm,
  },
  {
    stage: 'ppo',
    description: 'PPO against the reward model with a KL penalty to the SFT policy',
    presets: false,
    required: [
      ['--policy <sft-dir>', 'the SFT run directory (the starting and reference policy)'],
      ['--reward-model <rm-dir>', 'the reward-model run directory'],
      ['--prompts <prompts.jsonl>', '{prompt} lines'],
      OUT,
    ],
    options: [
      ['--separate-critic', 'a critic with its own trunk, initialised from the reward model'],
      ...EVAL_PROMPT_FLAGS,
      ['--ptx-data <sft.jsonl>', 'demonstrations for PPO-ptx (with --ptx-coef)'],
    ],
    run: ppo,
  },
  {
    stage: 'dpo',
    description:
      'direct preference optimization on pairs ({prompt, chosen, rejected}, as texts or messages, or {chosen, rejected} conversations)',
    presets: true,
    required: [
      ['--model <sft-dir|preset>', 'the policy to start from (usually the SFT run directory); its frozen copy is the reference'],
      ['--data <pairs.jsonl>', 'preference pairs'],
      OUT,
    ],
    options: [
      ['--eval-data <pairs.jsonl>', 'held-out pairs (default: evalFraction of --data)'],
      ['--ref-model <dir>', 'a reference model other than the starting policy'],
    ],
    run: dpo,
  },
  ...(
    [
      ['grpo', 'GRPO: numGenerations completions per prompt scored by rewards, the group as the baseline (no critic)'],
      ['rloo', 'RLOO: K completions per prompt, a leave-one-out baseline, the KL folded into the reward'],
    ] as const
  ).map(
    ([stage, description]): TrainingCommand => ({
      stage,
      description,
      presets: true,
      required: [
        ['--model <sft-dir|preset>', 'the policy to start from (usually the SFT run directory)'],
        ['--prompts <prompts.jsonl>', '{prompt, …} lines; the other fields reach reward functions as columns'],
        OUT,
      ],
      options: [...REWARD_FLAGS, ...EVAL_PROMPT_FLAGS],
      run: (o) => groupPolicy(stage, o),
    }),
  ),
];

/** Declares every training command on the program. */
export function addTrainingCommands(program: Command): void {
  for (const c of TRAINING_COMMANDS) {
    const stage: Stage = STAGES[c.stage];
    const cmd = program.command(c.stage).description(c.description);
    if (c.presets) cmd.addHelpText('after', presetsHelpText());
    for (const [flags, help] of c.required) cmd.requiredOption(flags, help);
    for (const [flags, help, repeatable] of c.options) {
      if (repeatable) cmd.option(flags, help, collect);
      else cmd.option(flags, help);
    }
    addSkipInvalidFlag(addBaseModelFlag(addLoraFlags(cmd)));
    cmd.addHelpText('after', startingPointHelp(stage.kind, stage.defaults));
    addConfigFlags(cmd, stage.name, stage.fields, ['outputDir']).action(c.run);
  }
}
