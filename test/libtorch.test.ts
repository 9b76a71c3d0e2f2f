// Finding libtorch and choosing the addon binary made for it (src/libtorch.ts, src/native.ts),
// on fake folders: the search order, what each kind of install says about itself, and which
// binaries are candidates for which libtorch.
import { describe, it, expect } from 'vitest';
import { mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildTag, findLibtorch, identify, installHint, prebuildName, prebuildTag, searchedPlaces, tooOld } from '../src/libtorch.js';
import { N, addonCandidates, libtorch, loadAddon } from '../src/native.js';
import { tempDir } from './helpers.js';

const tmp = tempDir('libtorch');

/** A wheel's torch/ folder in a fake virtual environment: lib/ with empty libraries and version.py. */
function fakeWheel(prefix: string, version: string, cuda: string | null): string {
  const torch = join(prefix, 'lib', 'python3.11', 'site-packages', 'torch');
  mkdirSync(join(torch, 'lib'), { recursive: true });
  mkdirSync(join(prefix, 'bin'), { recursive: true });
  writeFileSync(join(prefix, 'bin', 'python3'), '');
  for (const lib of ['libc10.so', 'libtorch_cpu.so', 'libtorch.so', ...(cuda ? ['libc10_cuda.so', 'libtorch_cuda.so'] : [])])
    writeFileSync(join(torch, 'lib', lib), '');
  writeFileSync(
    join(torch, 'version.py'),
    `from typing import Optional\n__version__ = '${version}'\ndebug = False\ncuda: Optional[str] = ${cuda ? `'${cuda}'` : 'None'}\n`,
  );
  return torch;
}

describe('identify', () => {
  it('reads a wheel: version and CPU or CUDA variant from version.py, its Python', () => {
    const cpu = identify(join(fakeWheel(join(tmp, 'venv-cpu'), '2.13.0+cpu', null), 'lib'), 'LIBTORCH')!;
    expect(cpu).toMatchObject({ version: '2.13.0', variant: 'cpu', source: 'LIBTORCH', python: join(tmp, 'venv-cpu', 'bin', 'python3') });
    const cuda = identify(join(fakeWheel(join(tmp, 'venv-cuda'), '2.14.1', '13.0'), 'lib'), 'system')!;
    expect(cuda).toMatchObject({ version: '2.14.1', variant: 'cu130' });
  });

  it("reads PyTorch's C++ download (build-version) and a bare lib folder (TorchConfigVersion.cmake)", () => {
    const zip = join(tmp, 'libtorch-zip');
    mkdirSync(join(zip, 'lib'), { recursive: true });
    for (const lib of ['libc10.so', 'libtorch_cpu.so', 'libtorch.so']) writeFileSync(join(zip, 'lib', lib), '');
    writeFileSync(join(zip, 'build-version'), '2.12.1+cu128\n');
    expect(identify(join(zip, 'lib'), 'LIBTORCH')).toMatchObject({ root: zip, version: '2.12.1', variant: 'cu128' });
    const sys = join(tmp, 'usr-lib');
    mkdirSync(join(sys, 'cmake', 'Torch'), { recursive: true });
    writeFileSync(join(sys, 'libtorch.so'), '');
    writeFileSync(join(sys, 'cmake', 'Torch', 'TorchConfigVersion.cmake'), 'set(PACKAGE_VERSION "1.13.1")\n');
    const old = identify(sys, 'system')!;
    expect(old).toMatchObject({ version: '1.13.1', variant: 'cpu' });
    expect(tooOld(old)).toBe(true);
    expect(tooOld({ version: '2.4.0' })).toBe(false);
    expect(identify(join(tmp, 'nowhere'), 'system')).toBeUndefined();
  });
});

describe('findLibtorch', () => {
  it('LIBTORCH first, then the package .venv, then the app .venv, then VIRTUAL_ENV', () => {
    const pkg = join(tmp, 'app', 'node_modules', 'torch-rlhf');
    mkdirSync(pkg, { recursive: true });
    const other = fakeWheel(join(tmp, 'elsewhere'), '2.13.0+cpu', null);
    const active = join(tmp, 'active-venv');
    fakeWheel(active, '2.12.0+cpu', null);
    const env = { VIRTUAL_ENV: active, PATH: '' };
    expect(findLibtorch({ packageRoot: pkg, env })).toMatchObject({ source: 'Python PyTorch', version: '2.12.0' });
    fakeWheel(join(tmp, 'app', '.venv'), '2.11.0+cpu', null);
    expect(findLibtorch({ packageRoot: pkg, env })).toMatchObject({ source: 'project environment', version: '2.11.0' });
    fakeWheel(join(pkg, '.venv'), '2.14.1', '13.0');
    expect(findLibtorch({ packageRoot: pkg, env })).toMatchObject({ source: 'project environment', version: '2.14.1', variant: 'cu130' });
    // LIBTORCH takes a wheel's torch/ folder, its lib/, or a libtorch root.
    for (const dir of [other, join(other, 'lib')])
      expect(findLibtorch({ packageRoot: pkg, env: { ...env, LIBTORCH: dir } })).toMatchObject({
        source: 'LIBTORCH',
        version: '2.13.0',
        libDir: join(other, 'lib'),
      });
    expect(() => findLibtorch({ packageRoot: pkg, env: { ...env, LIBTORCH: join(tmp, 'missing') } })).toThrow(
      /LIBTORCH=.*holds no libtorch/,
    );
  });

  it("LIBTORCH takes a virtual environment's root; the not-found message names the app's own .venv", () => {
    const venv = join(tmp, 'venv-root');
    fakeWheel(venv, '2.12.1+cpu', null);
    expect(findLibtorch({ packageRoot: join(tmp, 'pkg-x'), env: { PATH: '', LIBTORCH: venv } })).toMatchObject({
      source: 'LIBTORCH',
      version: '2.12.1',
      libDir: join(venv, 'lib', 'python3.11', 'site-packages', 'torch', 'lib'),
    });
    expect(() => findLibtorch({ packageRoot: join(tmp, 'pkg-x'), env: { PATH: '', LIBTORCH: join(tmp, 'pkg-x') } })).toThrow(
      /holds no libtorch \(no lib\/libtorch\.so, and no lib\/python3\.\*\/site-packages\/torch\)/,
    );
    // As a dependency of an app without PyTorch anywhere: the message lists the app's .venv, where the README says to put it.
    const pkg = join(tmp, 'bare-app', 'node_modules', 'torch-rlhf');
    mkdirSync(pkg, { recursive: true });
    expect(searchedPlaces({ packageRoot: pkg, env: { PATH: '' } })).toEqual([
      'LIBTORCH (not set)',
      join(pkg, '.venv'),
      join(tmp, 'bare-app', '.venv'),
      'the active virtual environment (none)',
      "python3's torch",
      '/usr/local/libtorch',
      '/opt/libtorch',
      'the system library folders',
    ]);
    expect(() => loadAddon(pkg, { PATH: '' })).toThrow(`${join(tmp, 'bare-app', '.venv')}, the active virtual environment (none)`);
  });
});

describe('choosing the binary', () => {
  it('names prebuilds by libtorch build and reads the tag a local build carries inside', () => {
    expect(prebuildName({ version: '2.13.0', variant: 'cpu' })).toBe('torch-rlhf.libtorch-2.13.0-cpu.node');
    expect(prebuildTag('/x/torch-rlhf.libtorch-2.14.1-cu130.node')).toBe('2.14.1-cu130');
    expect(prebuildTag('/x/torch-rlhf-preload.node')).toBeUndefined();
    expect(installHint('2.13.0', 'cpu')).toMatch(/torch==2\.13\.0\+cpu --index-url https:\/\/download\.pytorch\.org\/whl\/cpu/);
    expect(installHint('2.14.1', 'cu130')).toMatch(/torch==2\.14\.1 --index-url https:\/\/download\.pytorch\.org\/whl\/cu130/);
  });

  it('takes only binaries made for the libtorch found; a fresher local build first, unless TORCH_RLHF_PREFER says', () => {
    const pkg = join(tmp, 'layout');
    const pre = join(pkg, 'prebuilds', `${process.platform}-${process.arch}`);
    mkdirSync(pre, { recursive: true });
    mkdirSync(join(pkg, 'build', 'Release'), { recursive: true });
    mkdirSync(join(pkg, 'build-2.14.1-cu130', 'Release'), { recursive: true });
    writeFileSync(join(pre, 'torch-rlhf.libtorch-2.13.0-cpu.node'), '');
    writeFileSync(join(pre, 'torch-rlhf.libtorch-2.14.1-cu130.node'), '');
    const local = join(pkg, 'build', 'Release', 'torch_rlhf.node');
    writeFileSync(local, Buffer.concat([Buffer.from([0, 1, 2]), Buffer.from('torch-rlhf-build:2.13.0-cpu;'), Buffer.from([0])]));
    const cudaLocal = join(pkg, 'build-2.14.1-cu130', 'Release', 'torch_rlhf.node');
    writeFileSync(cudaLocal, 'torch-rlhf-build:2.14.1-cu130;');
    utimesSync(cudaLocal, new Date(2000, 0, 1), new Date(2000, 0, 1));
    const rel = (files: string[]) => files.map((f) => f.slice(pkg.length + 1));
    const cpu = { version: '2.13.0', variant: 'cpu' };
    utimesSync(local, new Date(2000, 0, 1), new Date(2000, 0, 1)); // older than the prebuilds
    expect(rel(addonCandidates(cpu, pkg, {}))).toEqual([
      `prebuilds/${process.platform}-${process.arch}/torch-rlhf.libtorch-2.13.0-cpu.node`,
      'build/Release/torch_rlhf.node',
    ]);
    expect(rel(addonCandidates(cpu, pkg, { TORCH_RLHF_PREFER: 'build' }))[0]).toBe('build/Release/torch_rlhf.node');
    utimesSync(local, new Date(), new Date(Date.now() + 60_000)); // a fresh local compile wins
    expect(rel(addonCandidates(cpu, pkg, {}))[0]).toBe('build/Release/torch_rlhf.node');
    expect(rel(addonCandidates(cpu, pkg, { TORCH_RLHF_PREFER: 'prebuild' }))[0]).toMatch(/^prebuilds\//);
    expect(rel(addonCandidates({ version: '2.14.1', variant: 'cu130' }, pkg, {}))).toEqual([
      `prebuilds/${process.platform}-${process.arch}/torch-rlhf.libtorch-2.14.1-cu130.node`,
      'build-2.14.1-cu130/Release/torch_rlhf.node',
    ]);
    expect(addonCandidates({ version: '2.12.0', variant: 'cpu' }, pkg, {})).toEqual([]);
  });

  it('says which binary or install is needed when none was made for the libtorch found', () => {
    const pkg = join(tmp, 'mismatch');
    const pre = join(pkg, 'prebuilds', `${process.platform}-${process.arch}`);
    mkdirSync(pre, { recursive: true });
    writeFileSync(join(pre, 'torch-rlhf.libtorch-2.13.0-cpu.node'), '');
    const future = fakeWheel(join(tmp, 'future'), '2.99.0+cpu', null);
    let message = '';
    try {
      loadAddon(pkg, { LIBTORCH: future });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/No torch-rlhf binary was made for libtorch 2\.99\.0 \(cpu\) at .*future.*, from LIBTORCH/);
    expect(message).toMatch(/It needs torch-rlhf\.libtorch-2\.99\.0-cpu\.node or a local build for 2\.99\.0-cpu/);
    expect(message).toMatch(/prebuilds\/.*torch-rlhf\.libtorch-2\.13\.0-cpu\.node: libtorch 2\.13\.0-cpu/);
    expect(message).toMatch(/pip install torch==2\.13\.0\+cpu --index-url https:\/\/download\.pytorch\.org\/whl\/cpu/);
    expect(message).toMatch(/npm run build:native/);
    const old = join(tmp, 'old');
    mkdirSync(join(old, 'lib'), { recursive: true });
    writeFileSync(join(old, 'lib', 'libtorch.so'), '');
    writeFileSync(join(old, 'build-version'), '1.13.1+cpu');
    expect(() => loadAddon(pkg, { LIBTORCH: old })).toThrow(
      /libtorch 1\.13\.1 \(cpu\).*older than 2\.4, the oldest supported[\s\S]*scripts\/setup\.sh/,
    );
  });

  it('this process runs on the libtorch it found, opened from that folder, with a binary built for it', () => {
    expect(N.version().build).toBe(buildTag(libtorch));
    const maps = readFileSync('/proc/self/maps', 'utf8');
    const libtorchCpu = maps.split('\n').find((l) => l.endsWith('/libtorch_cpu.so'));
    expect(libtorchCpu).toContain(libtorch.libDir);
  });
});
