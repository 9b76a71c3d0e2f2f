// Chart.js's UMD build, read from the installed package so the report can inline it and open
// without a network. chart.js's "exports" map does not expose dist/chart.umd.js, so the file
// is found next to the package's CommonJS entry (dist/chart.cjs) instead. createRequire makes
// this work from src/ under vitest, from dist/, and with torch-rlhf installed as a dependency.
import { promises as fsp } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

// 4.x ships dist/chart.umd.js (2.x/3.x called it chart.min.js); chart.umd.min.js is kept too.
const UMD_FILES = ['chart.umd.js', 'chart.umd.min.js'];

let cached: Promise<string> | undefined;

async function load(): Promise<string> {
  const require = createRequire(import.meta.url);
  let entry: string;
  try {
    entry = require.resolve('chart.js');
  } catch (err) {
    throw new Error(`chart.js is not installed (it is a dependency of torch-rlhf; run npm install): ${(err as Error).message}`);
  }
  for (const name of UMD_FILES) {
    const file = join(dirname(entry), name);
    let code: string;
    try {
      code = await fsp.readFile(file, 'utf8');
    } catch {
      continue;
    }
    // Inlined in a <script>, these sequences would end or confuse the element early. The
    // shipped build has none; if a future one does, failing loudly beats a broken page.
    if (/<\/script|<!--/i.test(code)) throw new Error(`${file}: contains "</script" or "<!--" and cannot be inlined`);
    // The source map is not inlined, so the comment would only make devtools ask for it.
    return code.replace(/\n?\/\/# sourceMappingURL=\S*\s*$/, '\n');
  }
  throw new Error(`chart.js: none of ${UMD_FILES.join(', ')} found in ${dirname(entry)}`);
}

/** The Chart.js UMD source (read once per process). */
export function chartJsSource(): Promise<string> {
  cached ??= load().catch((err: unknown) => {
    cached = undefined; // let a later call retry, e.g. after npm install
    throw err;
  });
  return cached;
}
