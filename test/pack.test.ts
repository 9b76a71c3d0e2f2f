// The published package: `npm run prebuild` stores the addon under prebuilds/, `npm pack`
// ships it with dist/ and the sources (and nothing that should not ship), and the packed
// tarball installed into a fresh folder trains a step without building anything.
import { describe, it, expect, afterAll } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { addonCandidates } from '../src/native.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'torch-rlhf-pack-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const npm = (args: string[], cwd: string) => spawnSync('npm', args, { cwd, encoding: 'utf8', timeout: 300_000, env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false' } });

describe('packaging', () => {
  it('chooses the addon variant: prebuilds (CUDA, then CPU) before the local build, with overrides', () => {
    const fake = mkdtempSync(join(tmp, 'layout-'));
    const pre = join(fake, 'prebuilds', `${process.platform}-${process.arch}`);
    execFileSync('mkdir', ['-p', pre, join(fake, 'build', 'Release')]);
    const local = join(fake, 'build', 'Release', 'torch_rlhf.node');
    writeFileSync(local, '');
    for (const f of [join(pre, 'torch-rlhf.cpu.node'), join(pre, 'torch-rlhf.cuda.node')]) writeFileSync(f, '');
    utimesSync(local, new Date(2000, 0, 1), new Date(2000, 0, 1)); // older than the prebuilds
    const names = (env: Record<string, string>) => addonCandidates(fake, env).map((f) => f.slice(fake.length + 1));
    expect(names({})).toEqual([`prebuilds/${process.platform}-${process.arch}/torch-rlhf.cuda.node`, `prebuilds/${process.platform}-${process.arch}/torch-rlhf.cpu.node`, 'build/Release/torch_rlhf.node']);
    expect(names({ TORCH_RLHF_VARIANT: 'cpu' })).toEqual([`prebuilds/${process.platform}-${process.arch}/torch-rlhf.cpu.node`, 'build/Release/torch_rlhf.node']);
    expect(names({ TORCH_RLHF_PREFER_BUILD: '1' })[0]).toBe('build/Release/torch_rlhf.node');
    utimesSync(local, new Date(), new Date(Date.now() + 60_000)); // a fresh local compile wins
    expect(names({})[0]).toBe('build/Release/torch_rlhf.node');
  });

  it('npm run prebuild → npm pack → install into a fresh folder → a training step runs', () => {
    let r = npm(['run', 'prebuild'], root);
    expect(r.status, r.stderr).toBe(0);
    const prebuilt = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
    expect(readdirSync(prebuilt)).toContain('torch-rlhf.cpu.node');
    r = npm(['pack', '--pack-destination', tmp], root);
    expect(r.status, r.stderr).toBe(0);
    const tgz = readdirSync(tmp).find((f) => f.endsWith('.tgz'))!;
    const files = execFileSync('tar', ['tzf', join(tmp, tgz)], { encoding: 'utf8' }).trim().split('\n').map((f) => f.replace(/^package\//, ''));
    for (const must of ['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/cli/index.js', 'data/demo/sft.jsonl', 'CMakeLists.txt', 'binding/addon.cc', 'native/gpt.cpp', 'scripts/install-native.mjs', `prebuilds/${process.platform}-${process.arch}/torch-rlhf.cpu.node`])
      expect(files, must).toContain(must);
    for (const f of files) expect(f).not.toMatch(/^(test|build|node_modules|\.gpu|\.ci|src|docs)\//);

    const app = join(tmp, 'app');
    execFileSync('mkdir', ['-p', app]);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    r = npm(['install', join(tmp, tgz)], app);
    expect(r.status, r.stderr).toBe(0);
    expect(existsSync(join(app, 'node_modules', 'torch-rlhf', 'build'))).toBe(false); // nothing was compiled
    writeFileSync(
      join(app, 'step.mjs'),
      `import { GPT, ByteTokenizer, SFTTrainer } from 'torch-rlhf';
       const tok = new ByteTokenizer();
       const model = GPT.create({ vocabSize: tok.vocabSize, blockSize: 32, nLayer: 1, nHead: 2, nEmbd: 16 });
       const data = [{ kind: 'prompt-completion', prompt: 'a', completion: 'b' }, { kind: 'prompt-completion', prompt: 'c', completion: 'd' }];
       const t = new SFTTrainer({ model, tokenizer: tok, trainDataset: data, evalDataset: [], config: { outputDir: 'run', maxSteps: 2, batchSize: 2, learningRate: 1e-3, progressBar: false } });
       const r = await t.train();
       console.log(JSON.stringify({ steps: r.globalStep, loss: r.metrics.loss }));`,
    );
    const run = spawnSync(process.execPath, ['step.mjs'], { cwd: app, encoding: 'utf8' });
    expect(run.stderr).toBe('');
    const out = JSON.parse(run.stdout.trim());
    expect(out.steps).toBe(2);
    expect(Number.isFinite(out.loss)).toBe(true);
    const cli = spawnSync(join(app, 'node_modules', '.bin', 'rlhf'), ['--help'], { encoding: 'utf8' });
    expect(cli.stdout).toMatch(/Usage: rlhf/);
  });
});
