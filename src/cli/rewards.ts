// The rewards of `rlhf grpo` and `rlhf rloo`, from the command line: reward models
// (--reward-model DIR, repeatable), the user's reward functions (--reward-fn ./reward.mjs takes
// the module's default export, ./reward.mjs#name a named one; repeatable) and built-in rewards
// (--reward exact-match:answer, format:REGEX, length:MAX; repeatable). --reward-weights 1,0.5
// weighs them in that order: reward models, then functions, then built-ins.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { RewardModel } from '../models/reward-model.js';
import { builtinReward } from '../rewards/builtin-spec.js';
import type { RewardSource } from '../rewards/rewards.js';
import type { RewardFunction } from '../rewards/types.js';
import type { Device } from '../tensor/types.js';
import type { LoadDType } from '../models/gpt-checkpoint.js';

/** Collects a repeatable flag's values (commander's option argument parser). */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Imports `file[#export]` and returns that export, which must be a function. */
async function importRewardFunction(spec: string): Promise<RewardFunction> {
  const hash = spec.lastIndexOf('#');
  const [file, name] = hash > 0 ? [spec.slice(0, hash), spec.slice(hash + 1)] : [spec, 'default'];
  const path = resolve(file);
  if (!existsSync(path)) throw new Error(`--reward-fn ${spec}: ${path}: no such file`);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`--reward-fn ${spec}: cannot import ${path}: ${(err as Error).message}`, { cause: err });
  }
  const fn = mod[name];
  if (typeof fn !== 'function') {
    const exported = Object.keys(mod).filter((k) => typeof mod[k] === 'function');
    throw new Error(
      `--reward-fn ${spec}: ${name === 'default' ? 'no default export' : `no export '${name}'`} that is a function (functions ` +
        `exported: ${exported.join(', ') || 'none'})`,
    );
  }
  const rf = fn as RewardFunction;
  return rf.rewardName || rf.name ? rf : Object.assign((inputs: Parameters<RewardFunction>[0]) => rf(inputs), { rewardName: name });
}

/** The reward sources the flags name, in weight order; at least one is required. Reward models load in `dtype` (frozen: default 'auto'). */
export async function rewardSourcesFromFlags(
  o: Record<string, unknown>,
  device: Device,
  dtype: LoadDType = 'auto',
): Promise<RewardSource[]> {
  const list = (k: string): string[] => (Array.isArray(o[k]) ? (o[k] as string[]) : []);
  const sources: RewardSource[] = [];
  try {
    for (const dir of list('rewardModel')) {
      if (!existsSync(dir)) throw new Error(`--reward-model: ${dir}: no such file or directory`);
      sources.push(await RewardModel.load(dir, { device, dtype }));
    }
    for (const spec of list('rewardFn')) sources.push(await importRewardFunction(spec));
    for (const spec of list('reward')) sources.push(builtinReward(spec));
  } catch (err) {
    for (const s of sources) if (s instanceof RewardModel) s.dispose();
    throw err;
  }
  if (sources.length === 0)
    throw new Error(
      'give at least one reward: --reward-model DIR, --reward-fn FILE[#NAME] or --reward SPEC (exact-match[:COLUMN], format:REGEX, ' +
        'length:MAX)',
    );
  return sources;
}

/** --reward-weights 1,0.5 as numbers (the config's rewardWeights). */
export function parseRewardWeights(raw: unknown): number[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (Array.isArray(raw)) return raw as number[];
  const parts = String(raw)
    .split(',')
    .map((x) => x.trim());
  const ws = parts.map(Number);
  if (parts.some((p) => p === '') || !ws.every(Number.isFinite))
    throw new Error(`--reward-weights expects comma-separated numbers, got '${String(raw)}'`);
  return ws;
}
