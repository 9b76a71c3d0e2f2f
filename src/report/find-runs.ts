// Which folders of a directory are runs: the report finds them by what they hold (metrics.jsonl,
// samples, a `<stage>_config.json`), not by name, so `runs/my-sft-2` or `exp/grpo-lr3e-5` are
// reported as the demo's `sft`, `rm` and `ppo` are. The demo's stage folders come first, in
// pipeline order, and are listed even when empty (an interrupted demo); then the others by name.
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { readRunFiles, type RunFiles } from './read.js';
import { stageTitle } from './sections.js';

/** The demo's layout: one run directory per stage under the demo's output directory. */
const STAGE_DIRS: [dir: string, title: string][] = [
  ['sft', 'SFT'],
  ['rm', 'Reward model'],
  ['ppo', 'PPO'],
];

/** Whether the files hold anything a report shows. */
export const hasRunContent = (r: RunFiles): boolean =>
  Boolean(r.metrics || r.samples || r.evalSamples || r.comparison || r.summary || r.configs.length);

export interface FoundRun {
  dir: string;
  title: string;
  files: RunFiles;
}

/** The runs in the folders directly under `runDir`: the demo's stages, then every folder with run files. */
export async function findRuns(runDir: string): Promise<FoundRun[]> {
  const entries = (await fsp.readdir(runDir, { withFileTypes: true })).filter((e) => e.isDirectory() && !/^checkpoint-\d+$/.test(e.name));
  const names = new Set(entries.map((e) => e.name));
  const runs: FoundRun[] = [];
  for (const [dir, title] of STAGE_DIRS) if (names.has(dir)) runs.push({ dir, title, files: await readRunFiles(join(runDir, dir)) });
  const known = new Set(STAGE_DIRS.map(([d]) => d));
  for (const name of [...names].filter((n) => !known.has(n)).sort()) {
    const files = await readRunFiles(join(runDir, name));
    if (!hasRunContent(files)) continue;
    const stage = files.configs[0]?.stage;
    runs.push({ dir: name, title: stage ? `${stageTitle(stage)}: ${name}` : name, files });
  }
  return runs;
}
