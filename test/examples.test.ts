// The documentation runs: the programs in examples/ are compiled as a user's code (examples/
// tsconfig.json, strict) against the built package and run on tiny settings (TINY=1); every
// TypeScript block of docs/guide.md type-checks under tsc --init's strict settings; and the API
// reference (TypeDoc, `npm run docs:api`) builds from the TSDoc comments.
import { describe, it, expect, beforeAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from './helpers.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const tmp = tempDir('examples');

beforeAll(() => {
  if (!existsSync(join(root, 'dist', 'index.d.ts'))) throw new Error('dist/ is missing: run npm run build:ts');
});

describe('examples/', () => {
  beforeAll(() => {
    const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'examples')], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
  });

  const run = (name: string) => {
    const r = spawnSync(process.execPath, [join(root, 'examples', 'dist', `${name}.js`)], {
      cwd: tmp,
      encoding: 'utf8',
      env: { ...process.env, TINY: '1', OUT: join(tmp, name) },
      timeout: 300_000,
    });
    expect(r.status, r.stderr).toBe(0);
    return r.stdout;
  };

  it('sft-rm-ppo: the three stages in code, then text in and text out', () => {
    const out = run('sft-rm-ppo');
    expect(out).toMatch(/^ppo -?\d/m);
    expect(out).toMatch(/What is 12\+30\? Answer as n →/);
    expect(out).toMatch(/^scores \[/m);
    for (const stage of ['sft', 'rm', 'ppo']) expect(existsSync(join(tmp, 'sft-rm-ppo', stage, 'config.json')), stage).toBe(true);
  });

  it('grpo-reward-function: built-in and own rewards, TensorBoard files', () => {
    expect(run('grpo-reward-function')).toMatch(/^GRPO: 2 steps, mean reward -?\d/m);
    expect(existsSync(join(tmp, 'grpo-reward-function', 'runs'))).toBe(true);
  });

  it('dpo: pairs from the file and in code', () => {
    expect(run('dpo')).toMatch(/^DPO: 2 steps, reward accuracy [\d.]+, log p\(" 4"\) -[\d.]+ → -[\d.]+$/m);
  });

  it('train-and-serve: /health stays fast and /generate answers while the same process trains', () => {
    const out = run('train-and-serve');
    expect(out).toMatch(/^trained 12 steps, loss [\d.]+$/m);
    expect(out).toMatch(/^\/generate during training: ".*"$/m);
    const m = /^\/health: (\d+) requests during training, slowest ([\d.]+) ms$/m.exec(out);
    expect(m, out).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(0);
    // Loose: a loaded CI machine; a step on the JS thread would hold /health for the whole step.
    expect(Number(m![2])).toBeLessThan(250);
  });

  it('hf-model: a Hugging Face directory loaded, fine-tuned and saved', () => {
    const out = run('hf-model');
    expect(out).toMatch(/^before: \[/m);
    expect(out).toMatch(/^after: \[/m);
    expect(existsSync(join(tmp, 'hf-model', 'model.safetensors'))).toBe(true);
  });
});

describe('docs/guide.md', () => {
  it('covers every public trainer, each with a code block', () => {
    const guide = readFileSync(join(root, 'docs', 'guide.md'), 'utf8');
    for (const t of ['SFTTrainer', 'RewardTrainer', 'PPOTrainer', 'DPOTrainer', 'GRPOTrainer', 'RLOOTrainer'])
      expect(guide, t).toMatch(new RegExp(`\`\`\`ts\\n[^\`]*new ${t}\\(`));
  });

  it('every TypeScript block type-checks as a user module under strict settings', () => {
    const guide = readFileSync(join(root, 'docs', 'guide.md'), 'utf8');
    const blocks = [...guide.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks.length).toBeGreaterThanOrEqual(9);
    const dir = join(tmp, 'guide');
    mkdirSync(join(dir, 'node_modules', '@types'), { recursive: true });
    symlinkSync(root, join(dir, 'node_modules', 'torch-rlhf'), 'dir');
    symlinkSync(join(root, 'node_modules', '@types', 'node'), join(dir, 'node_modules', '@types', 'node'), 'dir');
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'guide', type: 'module' }));
    const files = blocks.map((code, i) => {
      writeFileSync(join(dir, `block-${i}.ts`), code);
      return `block-${i}.ts`;
    });
    const compilerOptions = {
      module: 'nodenext',
      target: 'ES2022',
      lib: ['ES2023', 'esnext.disposable'],
      types: ['node'],
      strict: true,
      exactOptionalPropertyTypes: true,
      noUncheckedIndexedAccess: true,
      noEmit: true,
      skipLibCheck: true,
      moduleDetection: 'force',
    };
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, files }));
    const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: dir, encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
  });
});

describe('API reference', () => {
  it('npm run docs:api (TypeDoc over src/index.ts) builds without errors', () => {
    const out = join(tmp, 'api');
    const r = spawnSync(process.execPath, [join(root, 'node_modules', 'typedoc', 'bin', 'typedoc'), '--out', out], {
      cwd: root,
      encoding: 'utf8',
    });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/\[error\]/);
    const index = readFileSync(join(out, 'index.html'), 'utf8');
    expect(index).toContain('torch-rlhf guide');
    for (const name of ['SFTTrainer', 'GRPOTrainer', 'generateText', 'TrainerCallback'])
      expect(
        existsSync(
          join(out, name === 'TrainerCallback' ? 'interfaces' : name === 'generateText' ? 'functions' : 'classes', `${name}.html`),
        ),
        name,
      ).toBe(true);
  });
});
