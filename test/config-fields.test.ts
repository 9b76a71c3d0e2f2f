// The config field tables are the one source of each option: every field has help and a
// default (fixed, or derived and said in words); the config interfaces' doc comments, which
// editors and TypeDoc show, are the tables' (help + default); and `--help` shows the real
// defaults, a derived one in words; docs/config.md, the reference of every field, is made from
// the tables too. Run with FIX_CONFIG_DOCS=1 to rewrite the doc comments and docs/config.md
// from the tables after changing one.
import { describe, it, expect } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { runFields, samplingFields, trainingFields } from '../src/trainers/config.js';
import { describeDefault, fieldDoc, type Field } from '../src/trainers/config-fields.js';
import { kebab } from '../src/cli/options.js';
import { sftFields } from '../src/trainers/sft-config.js';
import { rewardFields } from '../src/trainers/reward-config.js';
import { dpoFields } from '../src/trainers/dpo-config.js';
import { ppoFields } from '../src/trainers/ppo-config.js';
import { groupPolicyFields } from '../src/trainers/group-policy-config.js';
import { grpoFields } from '../src/trainers/grpo-config.js';
import { rlooFields } from '../src/trainers/rloo-config.js';
import { loraFields } from '../src/lora/config.js';
import { buildProgram } from '../src/cli/index.js';

type Table = Readonly<Record<string, Field<unknown>>>;

/** Each interface, the file that declares it, and the table its own members are documented from. */
const interfaces: [name: string, file: string, table: Table][] = [
  ['RunConfig', 'src/trainers/config.ts', runFields],
  ['TrainingConfig', 'src/trainers/config.ts', trainingFields],
  ['SFTConfig', 'src/trainers/sft-config.ts', sftFields],
  ['RewardConfig', 'src/trainers/reward-config.ts', rewardFields],
  ['DPOConfig', 'src/trainers/dpo-config.ts', dpoFields],
  ['PPOConfig', 'src/trainers/ppo-config.ts', ppoFields],
  ['GroupPolicyConfig', 'src/trainers/group-policy-config.ts', groupPolicyFields],
  ['GRPOConfig', 'src/trainers/grpo-config.ts', grpoFields],
  ['RLOOConfig', 'src/trainers/rloo-config.ts', rlooFields],
  ['LoraConfig', 'src/lora/config.ts', loraFields],
];

/** The tables a trainer resolves: every field but outputDir must have a default. */
const resolved: Record<string, Table> = { sftFields, rewardFields, dpoFields, ppoFields, grpoFields, rlooFields, loraFields };

interface Member {
  name: string;
  doc: string;
  /** Where the member's doc comment (or, without one, the member) starts and ends, and its indent. */
  start: number;
  end: number;
  indent: string;
}

function members(file: string, iface: string): Member[] {
  const text = readFileSync(file, 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const decl = source.statements.find((s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === iface);
  if (!decl) throw new Error(`${file}: no interface ${iface}`);
  return decl.members.filter(ts.isPropertySignature).map((m) => {
    const docs = ts.getJSDocCommentsAndTags(m).filter(ts.isJSDoc);
    const comment = docs.map((d) => ts.getTextOfJSDocComment(d.comment) ?? '').join(' ');
    const start = docs[0] ? docs[0].getStart(source) : m.getStart(source);
    const lineStart = text.lastIndexOf('\n', start) + 1;
    const doc = comment.replace(/\s+/g, ' ').trim();
    return { name: (m.name as ts.Identifier).text, doc, start, end: docs.at(-1)?.getEnd() ?? start, indent: text.slice(lineStart, start) };
  });
}

/** A doc comment of `doc`: one line when it fits in 140 columns, else wrapped at about 100. */
function docComment(doc: string, indent: string): string {
  if (indent.length + doc.length + 7 <= 140) return `/** ${doc} */`;
  const lines: string[] = [];
  let line = '';
  for (const word of doc.split(' ')) {
    if (line && indent.length + line.length + word.length + 4 > 104) lines.push(line), (line = '');
    line = line ? `${line} ${word}` : word;
  }
  lines.push(line);
  return `/**\n${lines.map((l) => `${indent} * ${l}`).join('\n')}\n${indent} */`;
}

function fixDocs(file: string, iface: string, table: Table): void {
  let text = readFileSync(file, 'utf8');
  const own = members(file, iface).reverse(); // from the end, so earlier offsets stay valid
  for (const m of own) {
    const comment = docComment(fieldDoc(table[m.name]!), m.indent);
    const hasDoc = m.end > m.start;
    text = text.slice(0, m.start) + (hasDoc ? comment : `${comment}\n${m.indent}`) + text.slice(hasDoc ? m.end : m.start);
  }
  writeFileSync(file, text);
}

describe('config field tables', () => {
  it.each(interfaces)('%s: every field has a help sentence and a check', (_, __, table) => {
    for (const [k, f] of Object.entries(table)) {
      expect(f.help, k).toMatch(/^\S.*[.)]$/);
      expect(typeof f.check[0], k).toBe('function');
      expect(f.check[1].length, k).toBeGreaterThan(0);
    }
  });

  it.each(Object.entries(resolved))('%s: every field but outputDir has a default, fixed or derived', (_, table) => {
    for (const [k, f] of Object.entries(table)) if (k !== 'outputDir') expect('default' in f || f.derived !== undefined, k).toBe(true);
  });

  it('a fixed default passes its own check', () => {
    for (const [name, , table] of interfaces)
      for (const [k, f] of Object.entries(table)) if ('default' in f) expect(f.check[0](f.default), `${name}.${k}`).toBe(true);
  });

  it('shared fields are reused, not restated: the same check object in every table', () => {
    for (const table of [trainingFields, sftFields, ppoFields, groupPolicyFields, grpoFields, rlooFields]) {
      expect(table.device.check).toBe(runFields.device.check);
      expect(table.lrSchedulerType).toBe(runFields.lrSchedulerType);
    }
    expect(ppoFields.topP).toBe(samplingFields.topP);
    expect(grpoFields.topP).toBe(samplingFields.topP);
  });

  it.each(interfaces)("%s's doc comments are its table's help and default", (name, file, table) => {
    const path = fileURLToPath(new URL(`../${file}`, import.meta.url));
    if (process.env.FIX_CONFIG_DOCS) fixDocs(path, name, table);
    for (const m of members(path, name)) {
      expect(table[m.name], `${name}.${m.name} is declared in the table`).toBeDefined();
      expect(m.doc, `${name}.${m.name}`).toBe(fieldDoc(table[m.name]!));
    }
  });
});

describe('--help and the tables', () => {
  const help = (cmd: string): string =>
    buildProgram()
      .commands.find((c) => c.name() === cmd)!
      .helpInformation()
      .replace(/\s+/g, ' ');

  it('says how a derived default is derived, and shows the real ones', () => {
    expect(help('ppo')).toContain("(PPOConfig.maxPromptLength, default: the model's blockSize − maxNewTokens)");
    expect(help('ppo')).toContain('(PPOConfig.microBatchSize, default: miniBatchSize)');
    expect(help('ppo')).toContain('β of the per-token KL penalty −β·KL(π‖π_ref). (PPOConfig.klCoef, default: 0.05)');
    expect(help('sft')).toContain("(SFTConfig.maxLength, default: the model's blockSize)");
    expect(help('sft')).toContain('Peak learning rate of AdamW. (SFTConfig.learningRate, default: 0.00002)');
    expect(help('dpo')).toContain("(DPOConfig.maxLength, default: the model's blockSize)");
    expect(help('grpo')).toContain("(GRPOConfig.maxPromptLength, default: the model's blockSize − maxCompletionLength)");
    expect(help('rloo')).toContain('(RLOOConfig.microBatchSize, default: batchSize)');
    expect(help('rloo')).toContain('(RLOOConfig.numGenerations, default: 2)');
  });

  it('has a flag with its help for every field but outputDir', () => {
    const commands: [string, string, Table][] = [
      ['sft', 'SFTConfig', sftFields],
      ['rm', 'RewardConfig', rewardFields],
      ['dpo', 'DPOConfig', dpoFields],
      ['ppo', 'PPOConfig', ppoFields],
      ['grpo', 'GRPOConfig', grpoFields],
      ['rloo', 'RLOOConfig', rlooFields],
    ];
    for (const [cmd, name, table] of commands) {
      const text = help(cmd);
      for (const [k, f] of Object.entries(table)) {
        if (k !== 'outputDir') expect(text, `${cmd} ${k}`).toContain(`${f.help} (${name}.${k}, default: `);
      }
    }
    expect(help('sft')).toContain(`${loraFields.r.help} (LoraConfig.r; turns LoRA on, default: 8)`);
  });
});

/** The configs in docs/config.md: each trainer's (with its command) and LoRA's. */
const referenced: [name: string, command: string, table: Table][] = [
  ['SFTConfig', 'rlhf sft', sftFields],
  ['RewardConfig', 'rlhf rm', rewardFields],
  ['DPOConfig', 'rlhf dpo', dpoFields],
  ['PPOConfig', 'rlhf ppo', ppoFields],
  ['GRPOConfig', 'rlhf grpo', grpoFields],
  ['RLOOConfig', 'rlhf rloo', rlooFields],
];

/** docs/config.md: one table per config of every field, its flag, default and help. */
function configReference(): string {
  const cell = (s: string): string => s.replace(/\|/g, '\\|');
  const rows = (table: Table, flag: (k: string) => string): string =>
    Object.entries(table)
      .map(([k, f]) => `| \`${k}\` | ${flag(k)} | ${cell(describeDefault(f) ?? 'required')} | ${cell(f.help)} |`)
      .join('\n');
  const head = '| field | flag | default | what it does |\n| --- | --- | --- | --- |';
  const trainerFlag = (k: string): string => (k === 'outputDir' ? '`--out`' : `\`--${kebab(k)}\``);
  const sections = referenced.map(([name, command, table]) => `## ${name} (\`${command}\`)\n\n${head}\n${rows(table, trainerFlag)}\n`);
  const loraFlags: Record<string, string> = {
    r: '--lora-r',
    loraAlpha: '--lora-alpha',
    loraDropout: '--lora-dropout',
    targetModules: '--lora-target-modules',
    useRslora: '--use-rslora',
  };
  const loraFlag = (k: string): string => (loraFlags[k] ? `\`${loraFlags[k]}\`` : '—');
  const lora = `## LoraConfig (\`peftConfig\`, \`--use-peft\` / \`--lora-*\`)\n\n${head}\n${rows(loraFields, loraFlag)}\n`;
  return (
    '# Config reference\n\n' +
    'Every field of every trainer config: its command-line flag, its default and what it does. This file is generated from the\n' +
    'field tables in `src/trainers/*-config.ts` and `src/lora/config.ts`, the same ones that make the defaults, the validation,\n' +
    "`rlhf <command> --help` and the interfaces' doc comments (test/config-fields.test.ts checks it; `FIX_CONFIG_DOCS=1 npx vitest run\n" +
    'test/config-fields.test.ts` rewrites it). A default in words is derived when the run starts; the trainers started from random\n' +
    'weights fill some fields with other defaults ("Defaults by starting point" in the [README](../README.md)).\n\n' +
    [...sections, lora].join('\n')
  );
}

describe('docs/config.md', () => {
  it('is the reference the tables make', () => {
    const path = fileURLToPath(new URL('../docs/config.md', import.meta.url));
    if (process.env.FIX_CONFIG_DOCS) writeFileSync(path, configReference());
    expect(readFileSync(path, 'utf8')).toBe(configReference());
  });
});
