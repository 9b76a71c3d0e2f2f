// The package's types under a consumer's strictest common settings: test/consumer/tsconfig.json is
// what `tsc --init` writes (strict, exactOptionalPropertyTypes, noUncheckedIndexedAccess,
// verbatimModuleSyntax), and test/consumer/usage.ts calls every trainer and the text helpers as
// the guide does. It must type-check against dist/ with skipLibCheck (--init's setting) and
// without it (the package's own declarations checked under those flags too). Also: `using`
// compiled to ES2022 runs on Node 20 (the README's advice; --init's esnext target emits it as is).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
let dir: string;

beforeAll(() => {
  if (!existsSync(join(root, 'dist', 'index.d.ts'))) throw new Error('dist/ is missing: run npm run build:ts');
  dir = mkdtempSync(join(tmpdir(), 'torch-rlhf-types-'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module' }));
  mkdirSync(join(dir, 'node_modules', '@types'), { recursive: true });
  symlinkSync(root, join(dir, 'node_modules', 'torch-rlhf'), 'dir');
  symlinkSync(join(root, 'node_modules', '@types', 'node'), join(dir, 'node_modules', '@types', 'node'), 'dir');
  cpSync(join(root, 'test', 'consumer'), dir, { recursive: true });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const check = (...extra: string[]) => spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json', ...extra], { cwd: dir, encoding: 'utf8' });

describe('types for a consumer under tsc --init settings', () => {
  it('the guide-style usage checks with skipLibCheck, as tsc --init sets it', () => {
    const r = check();
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it("the package's declarations check under exactOptionalPropertyTypes and noUncheckedIndexedAccess (no skipLibCheck)", () => {
    const r = check('--skipLibCheck', 'false');
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('`using` runs on this Node (20) when compiled to ES2022 with lib esnext.disposable, as the README says', () => {
    writeFileSync(
      join(dir, 'using.ts'),
      `import { torch, type Tensor } from 'torch-rlhf';
       let seen: Tensor | undefined;
       {
         using t = torch.ones([2, 2]);
         seen = t;
       }
       console.log(JSON.stringify({ disposed: seen.isDisposed }));`,
    );
    const build = spawnSync(
      process.execPath,
      [
        tsc,
        '--target',
        'ES2022',
        '--lib',
        'ES2023,esnext.disposable',
        '--module',
        'nodenext',
        '--types',
        'node',
        '--strict',
        '--outDir',
        'out',
        'using.ts',
      ],
      { cwd: dir, encoding: 'utf8' },
    );
    expect(build.stdout + build.stderr).toBe('');
    const run = spawnSync(process.execPath, [join(dir, 'out', 'using.js')], { cwd: dir, encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual({ disposed: true });
  });

  it('a GPT2Tokenizer is a Tokenizer, and a misuse is still caught', () => {
    const usage = readFileSync(join(dir, 'usage.ts'), 'utf8');
    expect(usage).toMatch(/const gpt2: Tokenizer = await GPT2Tokenizer\.fromDir/);
    writeFileSync(join(dir, 'usage.ts'), `${usage}\nexport const bad: import('torch-rlhf').SFTRecord = { prompt: 'Q' };\n`);
    const r = check();
    writeFileSync(join(dir, 'usage.ts'), usage);
    expect(r.status).not.toBe(0);
    expect(r.stdout).toMatch(/usage\.ts.*TS2322/);
  });
});
