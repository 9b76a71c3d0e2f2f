// Seeding a CLI run before anything random happens. The trainers seed the global generator when
// training starts, but a command builds its model before that: a preset's fresh weights, the
// reward model's new head, the PPO value head. Seeding here, before any model exists, makes
// two runs with the same --seed and data start from the same weights and so end bitwise alike.
import { manualSeed } from '../tensor/runtime.js';
import { trainingConfigRules } from '../trainers/config.js';

/** Seeds the global generator with the run's seed (its flag or config file, else the default). */
export function seedRun(config: Record<string, unknown>, defaultSeed: number, configName: string): void {
  const seed = config.seed ?? defaultSeed;
  const [ok, what] = trainingConfigRules.seed;
  // Checked here as the trainer would, since the trainer sees the config only later.
  if (!ok(seed)) throw new Error(`${configName}: field 'seed' must be ${what}, got ${JSON.stringify(seed)}`);
  manualSeed(seed as number);
}
