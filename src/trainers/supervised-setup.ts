// What the supervised trainers (SFT, reward model, DPO) share before their data is encoded: the
// options every one of them takes, and the steps every one takes with them (the vocabulary
// check, the device, a LoRA adapter when asked, gradient checkpointing when on, the records parsed and split into train and
// held-out). Each trainer adds only its own options and how it encodes a record.
import { splitDataset } from '../data/datasets.js';
import type { LoraConfigInput } from '../lora/config.js';
import { enableGradientCheckpointing } from '../models/gpt.js';
import { Module } from '../nn/module.js';
import { prepareLora } from '../lora/trainer-setup.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import type { TrainerCallback } from './callbacks.js';
import type { SavableModel } from './checkpoint.js';
import type { TrainingConfig } from './config.js';
import { pickDevice } from './run-loop.js';
import type { TrainerParts } from './trainer.js';
import { checkVocabulary } from './vocab.js';

/** The options of every supervised trainer; `Data` is what its datasets may be (TRL rows or loaded records). */
export interface SupervisedTrainerOptions<Model, Config, Data> {
  model: Model;
  tokenizer: Tokenizer;
  config: Partial<Config> & { outputDir: string };
  /** TRL rows or loaded records; a bad one fails with `index N: field …`. */
  trainDataset: Data;
  /** Held-out records; by default `evalFraction` of trainDataset is held out. */
  evalDataset?: Data | undefined;
  /** Called after each optimizer step, with each metrics line, each evaluation and checkpoint, and at the end; may stop the run early. */
  callbacks?: readonly TrainerCallback[] | undefined;
  /** Train a LoRA adapter instead of the full model (TRL's peft_config); the model saves as PEFT's adapter files. */
  peftConfig?: LoraConfigInput | undefined;
}

/** A model a supervised trainer trains: savable, with the vocabulary its tokenizer must match. */
type TrainedModel = SavableModel & { config: { vocabSize: number } };

/** What a supervised trainer says of itself to prepareSupervised. */
export interface SupervisedSetup<Data, Parsed> {
  /** The trainer's class name, for errors ('SFTTrainer'). */
  who: string;
  /** The stage's name in logs and files ('sft', 'reward', 'dpo'). */
  label: string;
  options: SupervisedTrainerOptions<TrainedModel, unknown, Data>;
  /** The resolved config. */
  config: TrainingConfig;
  /** defaultsForStart's notes on the defaults chosen. */
  startNotes: readonly string[];
  /** The records parser of the stage's datasets. */
  parse: (data: Data, what: string) => Parsed[];
  /** Modules that train in full beside the adapter (PEFT's modules_to_save). */
  modulesToSave?: string[];
}

/**
 * The steps before encoding, in this order: the tokenizer must fit the model, the device is
 * picked, the adapter (if any) goes on before the model moves, and the datasets are parsed
 * (errors name `who trainDataset` / `who evalDataset`) and split. Returns the base trainer's
 * parts but for the encoded data, whether an adapter was put on, and the parsed split.
 */
export function prepareSupervised<Data, Parsed>(
  s: SupervisedSetup<Data, Parsed>,
): { parts: Omit<TrainerParts<never>, 'trainData' | 'evalData'>; lora: boolean; train: Parsed[]; eval: Parsed[] } {
  const o = s.options;
  checkVocabulary(s.who, o.tokenizer, o.model);
  const device = pickDevice(s.config.device);
  const lora = prepareLora(o.model, o.peftConfig, s.who, {
    seed: s.config.seed,
    ...(s.modulesToSave ? { modulesToSave: s.modulesToSave } : {}),
  });
  if (s.config.gradientCheckpointing && o.model instanceof Module) enableGradientCheckpointing(o.model);
  o.model.to(device);
  const train = s.parse(o.trainDataset, `${s.who} trainDataset`);
  const split = o.evalDataset
    ? { train, eval: s.parse(o.evalDataset, `${s.who} evalDataset`) }
    : splitDataset(train, s.config.evalFraction, s.config.seed);
  const { who, label, config, startNotes } = s;
  const parts = { model: o.model, tokenizer: o.tokenizer, device, config, label, who, startNotes, callbacks: o.callbacks };
  return { parts, lora, ...split };
}
