// Trainer checkpoints: checkpoint-<step>/ holding the model (its own save format), the
// optimizer state (safetensors), and trainer_state.json (step, data position, RNG state,
// metrics history). Written into a temporary folder and renamed, so a crash never leaves a
// half-written checkpoint that resume would pick up (the folder handling is in run-dir.ts).
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { keepingModelDir } from '../lora/adapter.js';
import { writeJsonAtomic } from '../io/atomic.js';
import { loadSafetensors, saveSafetensors } from '../io/safetensors.js';
import type { Module } from '../nn/module.js';
import type { Optimizer, OptimizerStateDict, ParamState } from '../optim/optimizer.js';
import { getRngState, noGrad, setRngState } from '../tensor/runtime.js';
import { fromBytes, toBytes } from '../tensor/bytes.js';
import { Tensor } from '../tensor/tensor.js';
import { checkpointTempDir, installCheckpoint, isCompleteCheckpoint, listCheckpoints, rotateCheckpoints } from './run-dir.js';
import { ADAPTER_WEIGHTS_FILE, PEFT_KEY_PREFIX } from '../lora/peft-files.js';
import type { DataPosition } from './data-order.js';

export { listCheckpoints };

export interface SavableModel extends Module {
  /** Writes the model's files (including model.safetensors named by namedParameters). */
  save(dir: string): Promise<void>;
}

export interface TrainerState {
  /** Steps done, in the stage's unit (optimizer steps; PPO: iterations; GRPO, RLOO: generation rounds). */
  step: number;
  /** Where the data order stands: passes over the data done (epochs, or passes over the prompts) and items of this pass consumed. */
  position: DataPosition;
  /** CPU generator state, base64. */
  rngState: string;
  /** Anything else a trainer needs to continue exactly (e.g. the adaptive KL coefficient). */
  extra: Record<string, unknown>;
  optimizer: { steps: Record<string, number>; paramGroups: unknown[] };
  logHistory: Record<string, number>[];
}

/**
 * The trainer state of a trainer_state.json. Checkpoints written before the run loop was shared
 * name the step `globalStep` and the position `epoch` / `epochOffset` (PPO, GRPO and RLOO kept
 * their iteration and prompt position in them too); they resume as they did.
 */
function readTrainerState(raw: Record<string, unknown>): TrainerState {
  if (typeof raw.step === 'number') return raw as unknown as TrainerState;
  const { globalStep, epoch, epochOffset, ...rest } = raw;
  return {
    ...(rest as Omit<TrainerState, 'step' | 'position'>),
    step: globalStep as number,
    position: { pass: epoch as number, offset: epochOffset as number },
  };
}

export async function saveCheckpoint<H extends object>(
  dir: string,
  model: SavableModel,
  optimizer: Optimizer<H>,
  state: Omit<TrainerState, 'optimizer'>,
  keepLast: number,
): Promise<void> {
  const parent = dirname(dir);
  mkdirSync(parent, { recursive: true });
  const tmp = checkpointTempDir(dir);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    await keepingModelDir(model, () => model.save(tmp)); // a folder about to be renamed is no model's directory
    const sd = optimizer.stateDict() as OptimizerStateDict;
    const tensors = new Map<string, Tensor>();
    const steps: Record<string, number> = {};
    for (const [id, s] of Object.entries(sd.state))
      for (const [k, v] of Object.entries(s as ParamState)) {
        if (v instanceof Tensor) tensors.set(`${id}.${k}`, v);
        else if (typeof v === 'number') steps[`${id}.${k}`] = v;
      }
    await saveSafetensors(join(tmp, 'optimizer.safetensors'), tensors);
    // Last: its presence is what makes the folder a complete checkpoint.
    await writeJsonAtomic(join(tmp, 'trainer_state.json'), { ...state, optimizer: { steps, paramGroups: sd.paramGroups } });
    installCheckpoint(tmp, dir);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  rotateCheckpoints(parent, keepLast);
}

/** Restores model weights, optimizer state and returns the trainer state. */
export async function loadCheckpoint<H extends object>(dir: string, model: Module, optimizer: Optimizer<H>): Promise<TrainerState> {
  const statePath = join(dir, 'trainer_state.json');
  if (!existsSync(statePath)) throw new Error(`${dir}: not a checkpoint (no trainer_state.json)`);
  if (!isCompleteCheckpoint(dir)) throw new Error(`${dir}: an incomplete checkpoint (its weights or optimizer state are missing)`);
  let state: TrainerState;
  try {
    state = readTrainerState(JSON.parse(readFileSync(statePath, 'utf8')));
  } catch (err) {
    throw new Error(`${statePath}: not valid JSON (${(err as Error).message})`);
  }
  // A submodule may be saved in a folder of its own (e.g. the critic under critic/).
  const files = new Map<string, Map<string, Tensor>>();
  // A model with a LoRA adapter saves the adapter alone (PEFT's file and keys): its frozen base
  // is not in the checkpoint, and does not change.
  const weightsIn = (d: string): [string, string] =>
    existsSync(join(d, ADAPTER_WEIGHTS_FILE)) ? [join(d, ADAPTER_WEIGHTS_FILE), PEFT_KEY_PREFIX] : [join(d, 'model.safetensors'), ''];
  const weightsFor = async (name: string): Promise<[string, Tensor | undefined]> => {
    const [top, prefix] = weightsIn(dir);
    if (!files.has(top)) files.set(top, (await loadSafetensors(top)).tensors);
    const t = files.get(top)!.get(prefix + name);
    const [sub, subPrefix] = weightsIn(join(dir, name.split('.')[0]!));
    if (t || !existsSync(sub)) return [top, t];
    if (!files.has(sub)) files.set(sub, (await loadSafetensors(sub)).tensors);
    return [sub, files.get(sub)!.get(subPrefix + name.slice(name.indexOf('.') + 1))];
  };
  try {
    for (const [name, p] of model.namedParameters()) {
      const [file, t] = await weightsFor(name);
      if (!t && !p.requiresGrad && file.endsWith(ADAPTER_WEIGHTS_FILE)) continue;
      if (!t) throw new Error(`${file}: missing '${name}'`);
      if (t.shape.join() !== p.shape.join()) throw new Error(`${file}: '${name}' has shape [${t.shape}], the model [${p.shape}]`);
      noGrad(() => p.copy_(t));
    }
  } finally {
    for (const m of files.values()) for (const t of m.values()) t.dispose();
  }
  const opt = await loadSafetensors(join(dir, 'optimizer.safetensors'));
  try {
    const sdState: Record<number, ParamState> = {};
    for (const [key, t] of opt.tensors) {
      const [id, k] = key.split('.') as [string, string];
      (sdState[Number(id)] ??= {})[k] = t;
    }
    for (const [key, v] of Object.entries(state.optimizer.steps)) {
      const [id, k] = key.split('.') as [string, string];
      (sdState[Number(id)] ??= {})[k] = v;
    }
    optimizer.loadStateDict({ state: sdState, paramGroups: state.optimizer.paramGroups as OptimizerStateDict['paramGroups'] });
  } finally {
    for (const t of opt.tensors.values()) t.dispose();
  }
  return state;
}

/** The CPU generator's state as base64 (for trainer_state.json). */
export function captureRng(): string {
  const rng = getRngState();
  try {
    return Buffer.from(toBytes(rng)).toString('base64');
  } finally {
    rng.dispose();
  }
}

export function restoreRng(state: string): void {
  const bytes = new Uint8Array(Buffer.from(state, 'base64'));
  const rng = fromBytes(bytes, 'uint8', [bytes.length]);
  try {
    setRngState(rng);
  } finally {
    rng.dispose();
  }
}

/** The checkpoint to resume from: a given folder, the latest in outputDir (true), or none. */
export function resumeDir(outputDir: string, resumeFromCheckpoint: string | boolean): string | null {
  if (resumeFromCheckpoint === false) return null;
  if (resumeFromCheckpoint !== true) return resumeFromCheckpoint;
  const all = listCheckpoints(outputDir);
  return all.length > 0 ? all[all.length - 1]!.dir : null; // nothing to resume: start fresh
}
