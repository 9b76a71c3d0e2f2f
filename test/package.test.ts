// The package as its users get it. As a dependency: `import { torch } from 'torch-rlhf'` from
// another folder trains a step, a TypeScript user gets full types, and the loader explains what to
// do when the addon or libtorch is missing. As published, on another machine's layout: the CUDA
// variant is built against PyTorch's CUDA wheel and loads here without a GPU; `npm run prebuild`
// stores the CPU addon beside it under prebuilds/, one binary per libtorch build; `npm pack` ships
// them with dist/ and the sources (and nothing that should not ship); the tarball installed into a
// fresh folder trains a step without building anything, on a libtorch that lives at another path
// than the one it was built against (a second virtual environment with its own PyTorch wheel), and
// takes the CUDA binary where the CUDA wheel's environment is the active one. Only the second part
// runs npm and pip; both are in the integration tier.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prebuildName } from '../src/libtorch.js';
import { libtorch } from '../src/native.js';
import { tempDir } from './helpers.js';

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

describe('package: as a dependency', () => {
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

  it('runs without build tools (cmake-js, node-addon-api, node-api-headers: optional peers); a build without them says so', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    const tools = ['cmake-js', 'node-addon-api', 'node-api-headers'];
    for (const t of tools) {
      expect(pkg.dependencies, `${t} is no runtime dependency`).not.toHaveProperty(t);
      expect(pkg.devDependencies, `a checkout builds with ${t}`).toHaveProperty(t);
      expect(pkg.peerDependencies[t]).toBe(`^${pkg.devDependencies[t]}`);
      expect(pkg.peerDependenciesMeta[t]).toEqual({ optional: true });
    }
    // A build from source where none of them is installed: a clear message and a failed install, no stack trace.
    const bare = mkdtempSync(join(tmpdir(), 'torch-rlhf-no-tools-'));
    try {
      for (const f of ['package.json', 'CMakeLists.txt', 'scripts/install-native.mjs']) cpSync(join(root, f), join(bare, f));
      const r = spawnSync(process.execPath, [join(bare, 'scripts', 'install-native.mjs')], {
        cwd: bare,
        encoding: 'utf8',
        env: { PATH: '/usr/bin:/bin', TORCH_RLHF_BUILD_FROM_SOURCE: '1' },
      });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(
        /building the native addon from source needs cmake-js, node-addon-api, node-api-headers, which are not installed/,
      );
      const pins = tools.map((t) => `${t}@${pkg.devDependencies[t]}`).join(' ');
      expect(r.stderr).toContain(`npm install --save-dev ${pins}`);
      expect(r.stderr).toContain('npm rebuild torch-rlhf');
      expect(r.stderr).not.toMatch(/\n\s+at /);
    } finally {
      rmSync(bare, { recursive: true, force: true });
    }
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

const tmp = tempDir('pack');
const npm = (args: string[], cwd: string) =>
  spawnSync('npm', args, {
    cwd,
    encoding: 'utf8',
    timeout: 600_000,
    env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false' },
  });
const platform = `${process.platform}-${process.arch}`;
/** stderr's lines but the trainer's own (its start notes, and its warning that two steps learned nothing): what loading printed. */
const loaderNoise = (stderr: string): string[] => stderr.split('\n').filter((l) => l !== '' && !/^(sft: |warning: sft )/.test(l));

describe('package: as published', () => {
  // scripts/build-cuda.sh: PyTorch's CUDA wheel into .venv-cuda, the addon built against it and
  // stored as a prebuild, then loaded and checked here, where there is no GPU.
  it('the CUDA variant builds against the CUDA wheel, links and loads here: CUDA unavailable, CPU work right', () => {
    const r = spawnSync('bash', ['scripts/build-cuda.sh'], { cwd: root, encoding: 'utf8', timeout: 1_200_000 });
    expect(r.status, r.stdout.slice(-3000) + r.stderr.slice(-3000)).toBe(0);
    expect(r.stdout).toMatch(/ok {3}CUDA reported (un)?available, as the machine is/);
    expect(r.stdout).toMatch(/ok {3}GPT logits equal the CPU variant's/);
    expect(r.stdout).toMatch(/check-cuda-build: all checks passed/);
    expect(r.stdout).toMatch(/NCCL: NCCL_VERSION_CODE \d+/);
  }, 1_500_000);

  it('npm run prebuild → npm pack → install into a fresh folder → a training step on a libtorch elsewhere', () => {
    let r = npm(['run', 'prebuild'], root);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const binary = prebuildName(libtorch);
    expect(readdirSync(join(root, 'prebuilds', platform))).toEqual(expect.arrayContaining([binary, 'torch-rlhf-preload.node']));
    r = npm(['pack', '--pack-destination', tmp], root);
    expect(r.status, r.stderr).toBe(0);
    const tgz = readdirSync(tmp).find((f) => f.endsWith('.tgz'))!;
    const files = execFileSync('tar', ['tzf', join(tmp, tgz)], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((f) => f.replace(/^package\//, ''));
    for (const must of [
      'package.json',
      'README.md',
      'dist/index.js',
      'dist/index.d.ts',
      'dist/libtorch.js',
      'dist/cli/index.js',
      'data/demo/sft.jsonl',
      'CMakeLists.txt',
      'binding/addon.cc',
      'binding/preload/preload.c',
      'native/gpt.cpp',
      'scripts/install-native.mjs',
      `prebuilds/${platform}/${binary}`,
      `prebuilds/${platform}/torch-rlhf-preload.node`,
    ])
      expect(files, must).toContain(must);
    for (const f of files) expect(f).not.toMatch(/^(test|build[^/]*|node_modules|\.gpu|\.ci|\.venv[^/]*|src|docs)\//);

    // A second virtual environment with the same PyTorch release: the libtorch the prebuild runs on.
    const venv = join(tmp, 'other-venv');
    execFileSync('python3', ['-m', 'venv', venv]);
    const pip = spawnSync(
      join(venv, 'bin', 'pip'),
      [
        'install',
        '--retries',
        '0',
        '--timeout',
        '5',
        '--no-deps',
        `torch==${libtorch.version}+${libtorch.variant}`,
        '--extra-index-url',
        'https://download.pytorch.org/whl/cpu',
      ],
      { encoding: 'utf8', timeout: 600_000 },
    );
    expect(pip.status, pip.stderr).toBe(0);

    const app = join(tmp, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    // Installed while that environment is active, as a user would.
    const env: NodeJS.ProcessEnv = { ...process.env, VIRTUAL_ENV: venv, PATH: `${join(venv, 'bin')}:/usr/bin:/bin` };
    delete env.LIBTORCH;
    r = spawnSync('npm', ['install', '--foreground-scripts', join(tmp, tgz)], { cwd: app, encoding: 'utf8', timeout: 600_000, env });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/using the prebuilt addon/);
    expect(existsSync(join(app, 'node_modules', 'torch-rlhf', 'build'))).toBe(false); // nothing was compiled
    for (const t of ['cmake-js', 'node-addon-api', 'node-api-headers']) expect(existsSync(join(app, 'node_modules', t)), t).toBe(false);
    writeFileSync(
      join(app, 'step.mjs'),
      `import { readFileSync } from 'node:fs';
       import { torch, GPT, ByteTokenizer, SFTTrainer } from 'torch-rlhf';
       const tok = new ByteTokenizer();
       const model = GPT.create({ vocabSize: tok.vocabSize, blockSize: 32, nLayer: 1, nHead: 2, nEmbd: 16 });
       const data = [
         { kind: 'prompt-completion', prompt: 'a', completion: 'b' },
         { kind: 'prompt-completion', prompt: 'c', completion: 'd' },
       ];
       const config = { outputDir: 'run', maxSteps: 2, batchSize: 2, learningRate: 1e-3, progressBar: false };
       const t = new SFTTrainer({ model, tokenizer: tok, trainDataset: data, evalDataset: [], config });
       const r = await t.train();
       const maps = readFileSync('/proc/self/maps', 'utf8').split('\\n')
         .filter((l) => /libtorch_cpu\\.so$/.test(l)).map((l) => l.split(' ').pop());
       console.log(JSON.stringify({ steps: r.globalStep, loss: r.metrics.loss, version: torch.version(), maps: [...new Set(maps)] }));`,
    );
    const run = spawnSync(process.execPath, ['step.mjs'], { cwd: app, encoding: 'utf8', env });
    expect(loaderNoise(run.stderr)).toEqual([]);
    const out = JSON.parse(run.stdout.trim());
    expect(out.steps).toBe(2);
    expect(Number.isFinite(out.loss)).toBe(true);
    const libDir = join(venv, 'lib');
    expect(out.version.libtorchSource).toBe('Python PyTorch');
    expect(out.version.libtorchDir.startsWith(libDir)).toBe(true);
    expect(out.version.addon).toBe(join(app, 'node_modules', 'torch-rlhf', 'prebuilds', platform, binary));
    expect(out.maps).toHaveLength(1);
    expect(out.maps[0].startsWith(libDir)).toBe(true); // not the libtorch the binary was built against
    // LIBTORCH pointing at that environment's torch folder works the same, from anywhere.
    const viaLibtorch = spawnSync(process.execPath, ['step.mjs'], {
      cwd: app,
      encoding: 'utf8',
      env: { PATH: '/usr/bin:/bin', LIBTORCH: out.version.libtorchDir },
    });
    expect(loaderNoise(viaLibtorch.stderr)).toEqual([]);
    expect(JSON.parse(viaLibtorch.stdout.trim()).version.libtorchSource).toBe('LIBTORCH');
    const cli = spawnSync(join(app, 'node_modules', '.bin', 'rlhf'), ['--help'], { encoding: 'utf8', env });
    expect(cli.stdout).toMatch(/Usage: rlhf/);

    // With the CUDA wheel's environment active instead, the same install takes the CUDA prebuild.
    const cudaVenv = join(root, '.venv-cuda');
    const cudaBinary = readdirSync(join(root, 'prebuilds', platform)).find((f) => /-cu\d+\.node$/.test(f))!;
    expect(files).toContain(`prebuilds/${platform}/${cudaBinary}`);
    const onCuda = spawnSync(process.execPath, ['step.mjs'], {
      cwd: app,
      encoding: 'utf8',
      env: { ...env, VIRTUAL_ENV: cudaVenv, PATH: `${join(cudaVenv, 'bin')}:/usr/bin:/bin` },
    });
    expect(loaderNoise(onCuda.stderr)).toEqual([]);
    const cuda = JSON.parse(onCuda.stdout.trim());
    expect(cuda.steps).toBe(2);
    expect(cuda.version.addon).toBe(join(app, 'node_modules', 'torch-rlhf', 'prebuilds', platform, cudaBinary));
    expect(cuda.version.cuda).toBe(true);
  }, 900_000);
});
