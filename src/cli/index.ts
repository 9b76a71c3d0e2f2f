#!/usr/bin/env node
// The `rlhf` command: the demo, each stage on your data, generation, scoring and reports. This
// file declares the commands and their flags and hands each over: the trainers get their config
// from the flags here, `generate` and `score` live in their own files.
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { loadPreferenceDataset, loadPreferencePairDataset, loadPromptDataset, loadSFTDataset } from '../data/datasets.js';
import { ActorCritic } from '../models/actor-critic.js';
import { GPT } from '../models/gpt.js';
import { RewardModel } from '../models/reward-model.js';
import { writeReport } from '../report/index.js';
import { DPOTrainer } from '../trainers/dpo.js';
import { defaultDPOConfig, dpoFields, type DPOConfig } from '../trainers/dpo-config.js';
import { GRPOTrainer } from '../trainers/grpo.js';
import { defaultGRPOConfig, grpoFields, type GRPOConfig } from '../trainers/grpo-config.js';
import { PPOTrainer } from '../trainers/ppo.js';
import { defaultPPOConfig, ppoFields, type PPOConfig } from '../trainers/ppo-config.js';
import { RLOOTrainer } from '../trainers/rloo.js';
import { defaultRLOOConfig, rlooFields, type RLOOConfig } from '../trainers/rloo-config.js';
import { RewardTrainer } from '../trainers/reward.js';
import { defaultRewardConfig, rewardFields, type RewardConfig } from '../trainers/reward-config.js';
import { SFTTrainer } from '../trainers/sft.js';
import { defaultSFTConfig, sftFields, type SFTConfig } from '../trainers/sft-config.js';
import { parseDevice } from '../tensor/types.js';
import { pickDevice } from '../trainers/trainer.js';
import { runDemo } from './demo.js';
import { startingPointHelp } from '../trainers/starting-point.js';
import { addLaunchCommand } from './launch.js';
import { closeProcessGroup } from '../distributed/process-group.js';
import { DEMO_METHODS, parseDemoMethods, runArithmeticDemo } from './arithmetic-demo.js';
import { modelFromSpec } from './models.js';
import { presetsHelpText } from './presets-help.js';
import { builtinReward } from '../rewards/builtin-spec.js';
import { addBaseModelFlag, addLoraFlags, loraFromFlags, mergeCommand, tokenizerOf } from './lora.js';
import { collect, parseRewardWeights, rewardSourcesFromFlags } from './rewards.js';
import { seedRun } from './seed.js';
import { emptyNote, loadData, requireFile, runSummary, str, type Opts } from './inputs.js';
import { generate } from './generate.js';
import { score } from './score.js';
import { addConfigFlags, addSkipInvalidFlag, configFromFlags } from './options.js';

/**
 * Flag values as a trainer's config: typed here only to be handed over, since every trainer
 * validates each field by its rules (a wrong value is an error naming the field).
 */
const handOver = <C>(fields: Record<string, unknown>): Partial<C> & { outputDir: string } => fields as Partial<C> & { outputDir: string };

async function sft(o: Opts): Promise<void> {
  const config: Record<string, unknown> = { ...configFromFlags(o, sftFields, 'SFTConfig'), outputDir: str(o, 'out') };
  const device = pickDevice(parseDevice(config.device ?? 'auto', '--device', true));
  const data = await loadData(loadSFTDataset, o, '--data');
  const evalData = o.evalData ? await loadData(loadSFTDataset, o, '--eval-data') : undefined;
  seedRun(config, defaultSFTConfig.seed, 'SFTConfig');
  const { model, tokenizer, source } = await modelFromSpec(str(o, 'model'), device, o.baseModel as string | undefined);
  const t = new SFTTrainer({
    model,
    tokenizer,
    config: handOver<SFTConfig>(config),
    trainDataset: data,
    evalDataset: evalData,
    peftConfig: loraFromFlags(o, model),
  });
  runSummary(
    `rlhf sft: ${source}, ${model.numParameters().toLocaleString()} parameters, ${data.length} examples${emptyNote(data)} → ${config.outputDir}`,
  );
  const r = await t.train();
  console.log(JSON.stringify({ stage: 'sft', steps: r.globalStep, ...r.metrics, outputDir: r.outputDir }));
}

async function rm(o: Opts): Promise<void> {
  const config: Record<string, unknown> = { ...configFromFlags(o, rewardFields, 'RewardConfig'), outputDir: str(o, 'out') };
  const device = pickDevice(parseDevice(config.device ?? 'auto', '--device', true));
  const data = await loadData(loadPreferenceDataset, o, '--data');
  const norm = o.normalizationData ? await loadData(loadSFTDataset, o, '--normalization-data') : undefined;
  const dir = str(o, 'model');
  requireFile(dir, '--model');
  seedRun(config, defaultRewardConfig.seed, 'RewardConfig');
  const model = await RewardModel.fromTrunk(dir, { device, baseModel: o.baseModel as string | undefined });
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
    JSON.stringify({ stage: 'rm', steps: r.globalStep, ...r.metrics, normalization: model.normalization, outputDir: r.outputDir }),
  );
}

async function ppo(o: Opts): Promise<void> {
  const config: Record<string, unknown> = { ...configFromFlags(o, ppoFields, 'PPOConfig'), outputDir: str(o, 'out') };
  const device = pickDevice(parseDevice(config.device ?? 'auto', '--device', true));
  const prompts = await loadData(loadPromptDataset, o, '--prompts');
  const evalPrompts = o.evalPrompts ? await loadData(loadPromptDataset, o, '--eval-prompts') : undefined;
  const evalRewards = ((o.evalReward as string[] | undefined) ?? []).map((spec) => builtinReward(spec));
  const policyDir = requireFile(str(o, 'policy'), '--policy');
  const rmDir = requireFile(str(o, 'rewardModel'), '--reward-model');
  const ptx = o.ptxData ? await loadData(loadSFTDataset, o, '--ptx-data') : undefined;
  seedRun(config, defaultPPOConfig.seed, 'PPOConfig');
  const baseModel = o.baseModel as string | undefined;
  const peftConfig = loraFromFlags(o);
  const model = await ActorCritic.fromTrunk(policyDir, {
    device,
    separateCritic: !!o.separateCritic,
    rewardModelDir: rmDir,
    baseModel,
  });
  // With a new LoRA adapter the reference is the policy with its adapter off: no second copy.
  const refModel = peftConfig ? undefined : await GPT.load(policyDir, { device, baseModel });
  const rewardModel = await RewardModel.load(rmDir, { device });
  const tokenizer = await tokenizerOf(policyDir, model);
  const t = new PPOTrainer({
    model,
    refModel,
    rewardModel,
    tokenizer,
    config: handOver<PPOConfig>(config),
    prompts,
    evalDataset: evalPrompts,
    evalRewards,
    ptxDataset: ptx,
    peftConfig,
  });
  runSummary(`rlhf ppo: policy ${policyDir}, reward model ${rmDir}, ${prompts.length} prompts → ${config.outputDir}`);
  const r = await t.train();
  console.log(JSON.stringify({ stage: 'ppo', iterations: r.iterations, ...r.metrics, outputDir: r.outputDir }));
}

async function dpo(o: Opts): Promise<void> {
  const flags: Record<string, unknown> = { ...configFromFlags(o, dpoFields, 'DPOConfig'), outputDir: str(o, 'out') };
  // The trainer validates every field (resolveDPOConfig); typed here only to be handed over.
  const config = flags as Partial<DPOConfig> & { outputDir: string };
  const device = pickDevice(config.device ?? 'auto');
  const data = await loadData(loadPreferencePairDataset, o, '--data');
  const evalData = o.evalData ? await loadData(loadPreferencePairDataset, o, '--eval-data') : undefined;
  const refDir = o.refModel ? requireFile(str(o, 'refModel'), '--ref-model') : undefined;
  seedRun(flags, defaultDPOConfig.seed, 'DPOConfig');
  const { model, tokenizer, source } = await modelFromSpec(str(o, 'model'), device, o.baseModel as string | undefined);
  const refModel = refDir ? await GPT.load(refDir, { device }) : undefined;
  const peftConfig = loraFromFlags(o, model);
  const t = new DPOTrainer({ model, refModel, tokenizer, config, trainDataset: data, evalDataset: evalData, peftConfig });
  const reference = refDir ?? (t.refModel ? 'a frozen copy' : peftConfig && !config.referenceFree ? 'the base (adapter off)' : 'none kept');
  runSummary(
    `rlhf dpo: ${source}, ${model.numParameters().toLocaleString()} parameters, ${data.length} pairs${emptyNote(data)}, reference ${reference} → ${config.outputDir}`,
  );
  const r = await t.train();
  console.log(JSON.stringify({ stage: 'dpo', steps: r.globalStep, ...r.metrics, outputDir: r.outputDir }));
}

/** rlhf grpo / rlhf rloo: the group-sampled online trainers, on the prompts and the rewards the flags name. */
async function groupPolicy(kind: 'grpo' | 'rloo', o: Opts): Promise<void> {
  const defaults = kind === 'grpo' ? defaultGRPOConfig : defaultRLOOConfig;
  const fields = kind === 'grpo' ? grpoFields : rlooFields;
  const name = kind === 'grpo' ? 'GRPOConfig' : 'RLOOConfig';
  const flags: Record<string, unknown> = { ...configFromFlags(o, fields, name), outputDir: str(o, 'out') };
  const weights = parseRewardWeights(flags.rewardWeights);
  if (weights) flags.rewardWeights = weights;
  // A null default takes no type from itself: epsilonHigh's flag is a number.
  if (typeof flags.epsilonHigh === 'string') flags.epsilonHigh = flags.epsilonHigh === 'null' ? null : Number(flags.epsilonHigh);
  // The trainer validates every field; typed here only to be handed over.
  const config = flags as Partial<GRPOConfig & RLOOConfig> & { outputDir: string };
  const device = pickDevice(config.device ?? 'auto');
  const prompts = await loadData(loadPromptDataset, o, '--prompts');
  const evalPrompts = o.evalPrompts ? await loadData(loadPromptDataset, o, '--eval-prompts') : undefined;
  const evalRewards = ((o.evalReward as string[] | undefined) ?? []).map((spec) => builtinReward(spec));
  seedRun(flags, defaults.seed, name);
  const rewards = await rewardSourcesFromFlags(o, device);
  const { model, tokenizer, source } = await modelFromSpec(str(o, 'model'), device, o.baseModel as string | undefined);
  const peftConfig = loraFromFlags(o, model);
  const t =
    kind === 'grpo'
      ? new GRPOTrainer({ model, tokenizer, prompts, evalDataset: evalPrompts, evalRewards, rewards, config, peftConfig })
      : new RLOOTrainer({ model, tokenizer, prompts, evalDataset: evalPrompts, evalRewards, rewards, config, peftConfig });
  runSummary(
    `rlhf ${kind}: ${source}, ${prompts.length} prompts, ${rewards.length} reward(s), ${t.config.numGenerations} completions per prompt → ${config.outputDir}`,
  );
  const r = await t.train();
  console.log(JSON.stringify({ stage: kind, steps: r.steps, ...r.metrics, outputDir: r.outputDir }));
}

export function buildProgram(): Command {
  const program = new Command('rlhf')
    .description('RLHF for TypeScript on libtorch: SFT → reward model → PPO')
    .exitOverride()
    // Usage errors are one line ("rlhf: error: unknown option '--x' (Did you mean --y?)").
    .configureOutput({ outputError: (text, write) => write(`rlhf: ${text.trim().replace(/\s*\n\s*/g, ' ')} (see --help)\n`) });

  program
    .command('demo')
    .description(
      'run all three stages on the bundled task and compare the PPO policy with the SFT policy; --method grpo or dpo: SFT then that method on arithmetic with a verifiable reward',
    )
    .option(
      '--method <names>',
      `ppo (SFT → RM → PPO on the labeler's task), or ${DEMO_METHODS.join(', ')} or both comma-separated (SFT → the method on the arithmetic task)`,
      'ppo',
    )
    .option('--quick', 'a much smaller run (well under a minute)')
    .option('--device <device>', "'auto' (CUDA when available), 'cpu', 'cuda' or 'cuda:N'", 'auto')
    .option('--out <dir>', 'run directory (default ./rlhf-demo)')
    .option('--seed <n>', 'seed', '1234')
    .option('--no-progress', 'no progress bars')
    .action(async (o: Opts) => {
      const seed = Number(o.seed);
      if (!Number.isInteger(seed) || seed < 0) throw new Error(`--seed expects a non-negative integer, got '${String(o.seed)}'`);
      const methods = parseDemoMethods(String(o.method));
      const common = {
        quick: !!o.quick,
        device: parseDevice(o.device, '--device', true),
        out: o.out as string | undefined,
        seed,
        progressBar: o.progress as boolean,
      };
      if (methods === 'ppo') await runDemo(common);
      else await runArithmeticDemo({ ...common, methods });
    });

  const sftCmd = program
    .command('sft')
    .description('supervised fine-tuning on demonstrations ({prompt, completion} or {messages} JSONL)')
    .addHelpText('after', presetsHelpText())
    .requiredOption(
      '--model <preset|config.json|dir>',
      'a preset (tiny, small, medium, llama-tiny: see below), a GPT config file, or a model directory (e.g. GPT-2 with its tokenizer files)',
    )
    .requiredOption('--data <sft.jsonl>', 'training data')
    .requiredOption('--out <dir>', 'run directory')
    .option('--eval-data <file.jsonl>', 'held-out data (default: evalFraction of --data)');
  addSkipInvalidFlag(addBaseModelFlag(addLoraFlags(sftCmd)));
  sftCmd.addHelpText('after', startingPointHelp('sft', defaultSFTConfig));
  addConfigFlags(sftCmd, 'SFTConfig', sftFields, ['outputDir']).action(sft);

  const rmCmd = program
    .command('rm')
    .description('train a reward model on rankings ({prompt, chosen, rejected} or {prompt, completions}, detected per line)')
    .requiredOption('--model <sft-dir>', 'the SFT run directory (its trunk starts the reward model)')
    .requiredOption('--data <preferences.jsonl>', 'rankings')
    .requiredOption('--out <dir>', 'run directory')
    .option('--normalization-data <sft.jsonl>', 'demonstrations that should score mean 0 (default: the best answers)');
  addSkipInvalidFlag(addBaseModelFlag(addLoraFlags(rmCmd)));
  rmCmd.addHelpText('after', startingPointHelp('reward', defaultRewardConfig));
  addConfigFlags(rmCmd, 'RewardConfig', rewardFields, ['outputDir']).action(rm);

  const ppoCmd = program
    .command('ppo')
    .description('PPO against the reward model with a KL penalty to the SFT policy')
    .requiredOption('--policy <sft-dir>', 'the SFT run directory (the starting and reference policy)')
    .requiredOption('--reward-model <rm-dir>', 'the reward-model run directory')
    .requiredOption('--prompts <prompts.jsonl>', '{prompt} lines')
    .requiredOption('--out <dir>', 'run directory')
    .option('--separate-critic', 'a critic with its own trunk, initialised from the reward model')
    .option(
      '--eval-prompts <prompts.jsonl>',
      'held-out {prompt, …} lines: answered greedily and scored before training, every --eval-steps and at the end (eval/* metrics, eval_samples.jsonl)',
    )
    .option(
      '--eval-reward <spec>',
      'a built-in reward that also judges the held-out answers, logged as eval/<name>, e.g. exact-match:answer (repeatable)',
      collect,
    )
    .option('--ptx-data <sft.jsonl>', 'demonstrations for PPO-ptx (with --ptx-coef)');
  addSkipInvalidFlag(addBaseModelFlag(addLoraFlags(ppoCmd)));
  ppoCmd.addHelpText('after', startingPointHelp('ppo', defaultPPOConfig));
  addConfigFlags(ppoCmd, 'PPOConfig', ppoFields, ['outputDir']).action(ppo);

  const dpoCmd = program
    .command('dpo')
    .description(
      'direct preference optimization on pairs ({prompt, chosen, rejected}, as texts or messages, or {chosen, rejected} conversations)',
    )
    .addHelpText('after', presetsHelpText())
    .requiredOption(
      '--model <sft-dir|preset>',
      'the policy to start from (usually the SFT run directory); its frozen copy is the reference',
    )
    .requiredOption('--data <pairs.jsonl>', 'preference pairs')
    .requiredOption('--out <dir>', 'run directory')
    .option('--eval-data <pairs.jsonl>', 'held-out pairs (default: evalFraction of --data)')
    .option('--ref-model <dir>', 'a reference model other than the starting policy');
  addSkipInvalidFlag(addBaseModelFlag(addLoraFlags(dpoCmd)));
  dpoCmd.addHelpText('after', startingPointHelp('dpo', defaultDPOConfig));
  addConfigFlags(dpoCmd, 'DPOConfig', dpoFields, ['outputDir']).action(dpo);

  for (const [kind, description, defaults, fields, name] of [
    [
      'grpo',
      'GRPO: numGenerations completions per prompt scored by rewards, the group as the baseline (no critic)',
      defaultGRPOConfig,
      grpoFields,
      'GRPOConfig',
    ],
    [
      'rloo',
      'RLOO: K completions per prompt, a leave-one-out baseline, the KL folded into the reward',
      defaultRLOOConfig,
      rlooFields,
      'RLOOConfig',
    ],
  ] as const) {
    const cmd = program
      .command(kind)
      .description(description)
      .addHelpText('after', presetsHelpText())
      .requiredOption('--model <sft-dir|preset>', 'the policy to start from (usually the SFT run directory)')
      .requiredOption('--prompts <prompts.jsonl>', '{prompt, …} lines; the other fields reach reward functions as columns')
      .requiredOption('--out <dir>', 'run directory')
      .option('--reward-model <dir>', 'a reward model (repeatable)', collect)
      .option('--reward-fn <file[#name]>', "a reward function: the module's default export, or the named one (repeatable)", collect)
      .option(
        '--reward <spec>',
        'a built-in reward: exact-match[:COLUMN[:REGEX]], format:REGEX, length:MAX[:PENALTY] (repeatable)',
        collect,
      )
      .option(
        '--eval-prompts <prompts.jsonl>',
        'held-out {prompt, …} lines: answered greedily and scored before training, every --eval-steps and at the end (eval/* metrics, eval_samples.jsonl)',
      )
      .option(
        '--eval-reward <spec>',
        'a built-in reward that also judges the held-out answers, logged as eval/<name>, e.g. exact-match:answer (repeatable)',
        collect,
      );
    addSkipInvalidFlag(addBaseModelFlag(addLoraFlags(cmd)));
    cmd.addHelpText('after', startingPointHelp(kind, defaults));
    addConfigFlags(cmd, name, fields, ['outputDir']).action((o: Opts) => groupPolicy(kind, o));
  }

  const generateCmd = program
    .command('generate')
    .description('answer prompts with a trained model (arguments, --prompts file, or interactively)')
    .argument('[prompts...]', 'prompts')
    .requiredOption('--model <dir>', 'a model directory (any stage)')
    .option('--prompts <prompts.jsonl>', '{prompt} lines')
    .option(
      '--out <answers.jsonl>',
      'write {"prompt", "completion"} lines here, as `rlhf score` and `rlhf sft` read them (default: stdout)',
    )
    .option('--max-new-tokens <n>', "new tokens per answer (default 64, at most half the model's positions)")
    .option('--temperature <t>', 'sampling temperature', '0.7')
    .option('--top-k <k>', 'keep the k most likely tokens (0 = off)', '0')
    .option('--top-p <p>', 'nucleus sampling (1 = off)', '1')
    .option('--greedy', 'pick the most likely token')
    .option('--seed <n>', 'seed for reproducible sampling')
    .option('--batch-size <n>', 'prompts per generation call', '16')
    .option('--device <device>', "'auto', 'cpu', 'cuda' or 'cuda:N'", 'auto');
  addSkipInvalidFlag(addBaseModelFlag(generateCmd)).action(generate);

  const scoreCmd = program
    .command('score')
    .description("print a reward model's scores (and its accuracy on preference files)")
    .requiredOption('--reward-model <rm-dir>', 'the reward-model run directory')
    .requiredOption('--data <file.jsonl>', '{prompt, completion} / {messages} / {prompt, chosen, rejected} / {prompt, completions} lines')
    .option('--device <device>', "'auto', 'cpu', 'cuda' or 'cuda:N'", 'auto');
  addSkipInvalidFlag(addBaseModelFlag(scoreCmd)).action(score);

  addBaseModelFlag(
    program
      .command('merge')
      .description('merge a LoRA adapter into its base: a full model directory (with the tokenizer) that transformers loads')
      .requiredOption('--model <adapter-dir>', 'a directory holding a PEFT adapter (adapter_config.json + adapter_model.safetensors)')
      .requiredOption('--out <dir>', 'where the merged model goes'),
  ).action(mergeCommand);

  program
    .command('report')
    .description('write a self-contained HTML report of a run directory, or of several runs side by side and overlaid')
    .argument(
      '<run-dirs...>',
      "a run directory (any trainer, or a folder of runs such as the demo's), or several runs to compare (then give --out)",
    )
    .option('--out <file.html>', 'output file (default RUN_DIR/report.html)')
    .action(async (runDirs: string[], o: Opts) => {
      console.log(await writeReport(runDirs, o.out as string | undefined));
    });
  addLaunchCommand(program, fileURLToPath(import.meta.url));
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    await closeProcessGroup(); // a data-parallel run: wait for the other ranks, then disconnect
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2; // commander printed its one line
    const msg = err instanceof Error ? err.message : String(err);
    console.error(`rlhf: ${msg.split('\n')[0]}`);
    if (process.env.RLHF_DEBUG && err instanceof Error) console.error(err.stack);
    return 1;
  }
}

// Run when executed as the `rlhf` binary (not when imported by tests).
const invoked = process.argv[1] ?? '';
if (/(^|[\\/])(rlhf|index\.js)$/.test(invoked) && import.meta.url.endsWith('/cli/index.js')) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
