// `--help` describes the model presets (their architecture and size, from MODEL_PRESETS) on
// every command that takes one as --model.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { MODEL_PRESETS } from '../src/cli/models.js';
import { describePresets } from '../src/cli/presets-help.js';

const cli = fileURLToPath(new URL('../dist/cli/index.js', import.meta.url));

describe('--help and the model presets', () => {
  it('names every preset with its architecture, layers, width and positions', () => {
    const text = describePresets();
    for (const [name, p] of Object.entries(MODEL_PRESETS))
      expect(text).toContain(`${name} (${p.arch === 'llama' ? 'Llama' : 'GPT-2'}: ${p.nLayer} layers`);
    expect(text).toContain('tiny (GPT-2: 2 layers, 2 heads, width 64, 128 positions)');
  });

  it.each(['sft', 'dpo', 'grpo', 'rloo'])('rlhf %s --help lists them', (cmd) => {
    const r = spawnSync(process.execPath, [cli, cmd, '--help'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Model presets');
    expect(r.stdout).toContain(describePresets());
  });
});
