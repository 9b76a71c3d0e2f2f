// The package as a dependency: `import { torch } from 'torch-rlhf'` from another folder, its
// types for a TypeScript user, and the loader's explanation when the addon is missing.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { libtorch } from '../src/native.js';

const root = fileURLToPath(new URL('..', import.meta.url));
let dir: string;

beforeAll(() => {
  if (!existsSync(join(root, 'dist', 'index.js'))) throw new Error('dist/ is missing: run npm run build:ts');
  dir = mkdtempSync(join(tmpdir(), 'torch-rlhf-consumer-'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', dependencies: { 'torch-rlhf': '*' } }));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(root, join(dir, 'node_modules', 'torch-rlhf'), 'dir');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('package', () => {
  it('imports from another folder and trains a step', () => {
    writeFileSync(
      join(dir, 'main.js'),
      `import { torch, F } from 'torch-rlhf';
       const w = torch.randn([3, 4], { requiresGrad: true });
       const opt = new torch.optim.AdamW([w]);
       const loss = F.linear(torch.ones([2, 4]), w).pow(2).mean();
       loss.backward(); opt.step();
       console.log(JSON.stringify({ shape: w.grad.shape, dtype: w.dtype }));`,
    );
    const r = spawnSync(process.execPath, ['main.js'], { cwd: dir, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ shape: [3, 4], dtype: 'float32' });
  });

  it('gives a TypeScript user full types (and catches misuse)', () => {
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const opts = [
      '--noEmit',
      '--strict',
      '--module',
      'NodeNext',
      '--moduleResolution',
      'NodeNext',
      '--target',
      'ES2022',
      '--lib',
      'ES2023,esnext.disposable',
      '--types',
      'node',
      '--typeRoots',
      join(root, 'node_modules', '@types'),
    ];
    writeFileSync(
      join(dir, 'good.ts'),
      `import { torch, F, type Tensor, type DType } from 'torch-rlhf';
       const x: Tensor = torch.zeros([2, 3], { dtype: 'float64' });
       const d: DType = x.dtype;
       const [values, indices]: [Tensor, Tensor] = x.max(1);
       const n: number = x.sum().item();
       const y: Tensor = F.crossEntropy(torch.randn([2, 5]), torch.tensor([1, 2]), { ignoreIndex: -100 });
       { using z = torch.ones([1]); void z; }
       void d; void values; void indices; void n; void y;`,
    );
    const good = spawnSync(process.execPath, [tsc, ...opts, 'good.ts'], { cwd: dir, encoding: 'utf8' });
    expect(good.stdout + good.stderr).toBe('');
    expect(good.status).toBe(0);
    writeFileSync(
      join(dir, 'bad.ts'),
      `import { torch } from 'torch-rlhf';\nconst x = torch.zeros([2], { dtype: 'complex128' });\nconst s: string = x.sum();\n`,
    );
    const bad = spawnSync(process.execPath, [tsc, ...opts, 'bad.ts'], { cwd: dir, encoding: 'utf8' });
    expect(bad.status).not.toBe(0);
    expect(bad.stdout).toMatch(/complex128/);
    expect(bad.stdout).toMatch(/not assignable to type 'string'/);
  });

  it('explains what to do when there is no libtorch, or no binary for the libtorch found', () => {
    const bare = mkdtempSync(join(tmpdir(), 'torch-rlhf-bare-'));
    try {
      cpSync(join(root, 'dist'), join(bare, 'dist'), { recursive: true });
      cpSync(join(root, 'package.json'), join(bare, 'package.json'));
      symlinkSync(join(root, 'node_modules'), join(bare, 'node_modules'), 'dir');
      const load = (env: Record<string, string>) =>
        spawnSync(process.execPath, ['--input-type=module', '-e', `await import(${JSON.stringify(join(bare, 'dist', 'index.js'))})`], {
          encoding: 'utf8',
          env: { PATH: '/usr/bin:/bin', ...env },
        });
      // No libtorch anywhere (no .venv next to this copy, no Python PyTorch on this PATH).
      let r = load({});
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(/torch-rlhf: could not load the native addon/);
      expect(r.stderr).toMatch(/No libtorch was found/);
      expect(r.stderr).toMatch(/scripts\/setup\.sh/);
      expect(r.stderr).toMatch(/pip install torch --index-url https:\/\/download\.pytorch\.org\/whl\/cpu/);
      // libtorch, but no binary in this copy.
      r = load({ LIBTORCH: libtorch.root });
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(new RegExp(`No torch-rlhf binary was made for libtorch ${libtorch.version}`));
      expect(r.stderr).toMatch(/npm run build:native/);
    } finally {
      rmSync(bare, { recursive: true, force: true });
    }
  });
});
