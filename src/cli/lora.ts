// LoRA on the command line: --lora-r, --lora-alpha, --lora-dropout, --lora-target-modules and
// --use-rslora (any of them, or --use-peft for PEFT's defaults, turns LoRA on) as the trainers'
// peftConfig; --base-model for a model directory that holds a PEFT adapter; the tokenizer of
// such a directory (its own files, else its base's); and `rlhf merge`, which writes the adapted
// model as a full one that transformers loads, into a new or empty directory.
import type { Command } from 'commander';
import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { GPT } from '../models/gpt.js';
import type { LoadDType } from '../models/gpt-checkpoint.js';
import { RewardModel } from '../models/reward-model.js';
import { hasLora, loraAdapter, modelDir } from '../lora/adapter.js';
import type { Module } from '../nn/module.js';
import { loraFields, resolveLoraConfig, type LoraConfig, type LoraConfigInput } from '../lora/config.js';
import { describeDefault } from '../trainers/config-fields.js';
import { mergeAndUnload } from '../lora/inject.js';
import { resolveBaseModelDir } from '../lora/load-adapter.js';
import { isAdapterDir, readAdapterConfig } from '../lora/peft-files.js';
import { loadTokenizer, type Tokenizer } from '../tokenizers/tokenizer.js';
import type { Device } from '../tensor/types.js';
import { kebab } from './options.js';

type Opts = Record<string, unknown>;

const FLAGS = {
  loraR: 'r',
  loraAlpha: 'loraAlpha',
  loraDropout: 'loraDropout',
  loraTargetModules: 'targetModules',
  useRslora: 'useRslora',
} as const;
const flagOf = (field: string): string => {
  const key = Object.entries(FLAGS).find(([, f]) => f === field)?.[0];
  return key ? `--${kebab(key)}` : field;
};

/** A LoRA flag's help: its LoraConfig field's help and default. */
const loraHelp = (field: keyof typeof loraFields, note = ''): string =>
  `${loraFields[field].help} (LoraConfig.${field}${note}, default: ${describeDefault(loraFields[field])})`;

/** The LoRA flags of a training command. */
export function addLoraFlags(cmd: Command): Command {
  return cmd
    .option(
      '--use-peft',
      `train a LoRA adapter instead of the full model (PEFT defaults: r ${loraFields.r.default}, alpha ${loraFields.loraAlpha.default}, ` +
        'all linear layers); saved as PEFT adapter files',
    )
    .option('--lora-r <n>', loraHelp('r', '; turns LoRA on'))
    .option('--lora-alpha <a>', loraHelp('loraAlpha'))
    .option('--lora-dropout <p>', loraHelp('loraDropout'))
    .option('--lora-target-modules <names>', `${loraHelp('targetModules')}; comma-separated here (c_attn,c_proj / q_proj,v_proj)`)
    .option('--use-rslora', loraHelp('useRslora'));
}

/** --base-model, for commands that read a model directory that may hold an adapter. */
export function addBaseModelFlag(cmd: Command): Command {
  return cmd.option(
    '--base-model <dir>',
    "the base model of a PEFT adapter directory (default: its adapter_config.json's base_model_name_or_path)",
  );
}

/**
 * The trainers' peftConfig from the flags, or undefined when no LoRA flag is given. With the
 * model: an adapter needs a base to be saved against (a model directory, not a fresh preset).
 */
export function loraFromFlags(o: Opts, model?: Module): LoraConfigInput | undefined {
  if (!o.usePeft && !Object.keys(FLAGS).some((k) => o[k] !== undefined)) return undefined;
  if (model && !hasLora(model) && modelDir(model) === null)
    throw new Error(
      '--lora-*: a LoRA adapter adapts a pretrained model; give --model a model directory (a preset starts from random weights, ' +
        'which no adapter file could name as its base)',
    );
  const num = (key: keyof typeof FLAGS): number | undefined => {
    const raw = o[key];
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (raw === '' || !Number.isFinite(n)) throw new Error(`--${kebab(key)} expects a number, got '${String(raw)}'`);
    return n;
  };
  const t = o.loraTargetModules as string | undefined;
  const targetModules =
    t === undefined
      ? undefined
      : t === 'all-linear' || !/^[\w.,\s]+$/.test(t)
        ? t
        : t
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean);
  const given: LoraConfigInput = {
    r: num('loraR'),
    loraAlpha: num('loraAlpha'),
    loraDropout: num('loraDropout'),
    targetModules,
    useRslora: o.useRslora ? true : undefined,
  };
  try {
    return resolveLoraConfig(given, 'LoRA') as LoraConfig;
  } catch (err) {
    throw new Error((err as Error).message.replace(/^LoRA: field '(\w+)'/, (_, f: string) => flagOf(f)));
  }
}

/** Whether the run trains a LoRA adapter: a LoRA flag is given, or the model directory holds an adapter (which keeps training). */
export function trainsAnAdapter(o: Opts, modelDir?: string): boolean {
  return loraFromFlags(o) !== undefined || (modelDir !== undefined && existsSync(modelDir) && isAdapterDir(modelDir));
}

/** The tokenizer of a model directory; an adapter directory without tokenizer files uses its base's. */
export async function tokenizerOf(dir: string, model: GPT): Promise<Tokenizer> {
  try {
    return await loadTokenizer(dir);
  } catch (err) {
    const base = isAdapterDir(dir) ? loraAdapter(model)?.baseModelNameOrPath : null;
    if (!base) throw err;
    return loadTokenizer(base);
  }
}

/** rlhf merge: base + adapter → one full model directory (with the tokenizer), as PEFT's merge_and_unload + save_pretrained. */
export async function mergeCommand(o: Opts): Promise<void> {
  const dir = o.model as string;
  const out = o.out as string;
  if (!existsSync(dir)) throw new Error(`--model: ${dir}: no such file or directory`);
  if (!isAdapterDir(dir)) throw new Error(`--model: ${dir} holds no adapter_config.json (not a PEFT adapter directory; nothing to merge)`);
  const dtype = (o.dtype as string | undefined) ?? 'auto';
  if (!MERGE_DTYPES.includes(dtype as LoadDType))
    throw new Error(`--dtype must be ${MERGE_DTYPES.map((d) => `'${d}'`).join(', ')}, got '${dtype}'`);
  const options = { device: 'cpu' as Device, baseModel: o.baseModel as string | undefined, dtype: dtype as LoadDType };
  refuseMergeOut(out, dir, resolveBaseModelDir(dir, readAdapterConfig(dir).baseModelNameOrPath, options.baseModel));
  const rewardModel = readAdapterConfig(dir).taskType === 'SEQ_CLS';
  const model = rewardModel ? await RewardModel.load(dir, options) : await GPT.load(dir, options);
  try {
    const tokenizer = await tokenizerOf(dir, model);
    const layers = loraAdapter(model)!.layers.size;
    mergeAndUnload(model);
    await model.save(out);
    await tokenizer.save(out);
    console.error(`rlhf merge: ${dir} (${layers} adapted layers) merged into ${loraAdapterBase(dir, o)} → ${out}`);
    console.log(JSON.stringify({ stage: 'merge', kind: rewardModel ? 'reward-model' : 'causal-lm', layers, outputDir: out }));
  } finally {
    model.dispose();
  }
}

/** A path with its symlinks resolved, the part that does not exist yet appended as given. */
function canonical(path: string): string {
  const abs = resolve(path);
  const parent = dirname(abs);
  if (existsSync(abs)) return realpathSync(abs);
  return parent === abs ? abs : join(canonical(parent), basename(abs));
}

/**
 * rlhf merge --out must be a new or empty folder: the base's folder would be overwritten (and the
 * adapter, which names it, then applied twice), the adapter's would hold a full model among its files.
 */
function refuseMergeOut(out: string, adapterDir: string, baseDir: string): void {
  const target = canonical(out);
  if (target === canonical(baseDir))
    throw new Error(`--out ${out} is the base model's directory: merging there would overwrite the base; give a new directory`);
  if (target === canonical(adapterDir))
    throw new Error(`--out ${out} is the adapter's directory: the merged model would be mixed into it; give a new directory`);
  if (!existsSync(target)) return;
  if (!statSync(target).isDirectory()) throw new Error(`--out ${out} is a file, not a directory; give a new directory`);
  if (readdirSync(target).length > 0)
    throw new Error(`--out ${out} is not empty: the merged model goes to a new or empty directory, so nothing is overwritten`);
}

/** rlhf merge --dtype: the base's own ('auto', as PEFT on transformers' default load) or a dtype by name. */
export const MERGE_DTYPES: readonly LoadDType[] = ['auto', 'float32', 'bfloat16', 'float16'];

const loraAdapterBase = (dir: string, o: Opts): string =>
  (o.baseModel as string | undefined) ?? readAdapterConfig(dir).baseModelNameOrPath ?? '?';
