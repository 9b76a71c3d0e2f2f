#!/usr/bin/env node
// The `rlhf` command: the demo, each stage on your data, generation, scoring and reports. This
// file builds the program and runs it; each command's work lives in its own file (the training
// commands in train.ts, `generate` and `score` in theirs, `launch` in launch.ts).
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { closeProcessGroup } from '../distributed/process-group.js';
import { writeReport } from '../report/index.js';
import { parseDevice } from '../tensor/types.js';
import { DEMO_METHODS, parseDemoMethods, runArithmeticDemo } from './arithmetic-demo.js';
import { runDemo } from './demo.js';
import { generate } from './generate.js';
import type { Opts } from './inputs.js';
import { addLabelCommand } from './label.js';
import { addLaunchCommand } from './launch.js';
import { addBaseModelFlag, mergeCommand } from './lora.js';
import { addSkipInvalidFlag } from './options.js';
import { firstLine, guardProcess, stdoutClosed } from './process-guards.js';
import { addSamplingFlags } from './sampling.js';
import { score } from './score.js';
import { addTrainingCommands } from './train.js';

export function buildProgram(): Command {
  const program = new Command('rlhf')
    .description('RLHF for TypeScript on libtorch: SFT → reward model → PPO')
    .exitOverride()
    // Usage errors are one line ("rlhf: error: unknown option '--x' (Did you mean --y?)").
    .configureOutput({ outputError: (text, write) => write(`rlhf: ${text.trim().replace(/\s*\n\s*/g, ' ')} (see --help)\n`) });

  program
    .command('demo')
    .description(
      'run all three stages on the bundled task and compare the PPO policy with the SFT policy; ' +
        '--method grpo or dpo: SFT then that method on arithmetic with a verifiable reward',
    )
    .option(
      '--method <names>',
      `ppo (SFT → RM → PPO on the labeler's task), or ${DEMO_METHODS.join(', ')} or both comma-separated ` +
        '(SFT → the method on the arithmetic task)',
      'ppo',
    )
    .option('--quick', 'a much smaller run (well under a minute)')
    .option('--device <device>', "'auto' (CUDA when available), 'cpu', 'cuda' or 'cuda:N'", 'auto')
    .option('--out <dir>', 'run directory (default ./rlhf-demo)')
    .option('--seed <n>', 'seed', '1234')
    .option('--no-progress', 'no progress bars')
    .action(async (o: Opts) => {
      const seed = Number(o.seed);
      if (!Number.isInteger(seed) || seed < 0) throw new Error(`--seed expects a non-negative integer, got '${String(o.seed)}'`);
      const methods = parseDemoMethods(String(o.method));
      const common = {
        quick: !!o.quick,
        device: parseDevice(o.device, '--device', true),
        out: o.out as string | undefined,
        seed,
        progressBar: o.progress as boolean,
      };
      if (methods === 'ppo') await runDemo(common);
      else await runArithmeticDemo({ ...common, methods });
    });

  addTrainingCommands(program);

  const generateCmd = program
    .command('generate')
    .description('answer prompts with a trained model (arguments, --prompts file, or interactively)')
    .argument('[prompts...]', 'prompts')
    .requiredOption('--model <dir>', 'a model directory (any stage)')
    .option('--prompts <prompts.jsonl>', '{prompt} lines')
    .option(
      '--out <answers.jsonl>',
      'write {"prompt", "completion"} lines here, as `rlhf score` and `rlhf sft` read them (default: stdout)',
    )
    .option('--batch-size <n>', 'prompts per generation call', '16')
    .option('--device <device>', "'auto', 'cpu', 'cuda' or 'cuda:N'", 'auto');
  addSkipInvalidFlag(addBaseModelFlag(addSamplingFlags(generateCmd))).action(generate);

  const scoreCmd = program
    .command('score')
    .description("print a reward model's scores (and its accuracy on preference files)")
    .requiredOption('--reward-model <rm-dir>', 'the reward-model run directory')
    .requiredOption('--data <file.jsonl>', '{prompt, completion} / {messages} / {prompt, chosen, rejected} / {prompt, completions} lines')
    .option('--device <device>', "'auto', 'cpu', 'cuda' or 'cuda:N'", 'auto');
  addSkipInvalidFlag(addBaseModelFlag(scoreCmd)).action(score);

  addBaseModelFlag(
    program
      .command('merge')
      .description('merge a LoRA adapter into its base: a full model directory (with the tokenizer) that transformers loads')
      .requiredOption('--model <adapter-dir>', 'a directory holding a PEFT adapter (adapter_config.json + adapter_model.safetensors)')
      .requiredOption('--out <dir>', 'where the merged model goes')
      .option(
        '--dtype <dtype>',
        "the dtype the base is loaded, merged and saved in: 'auto' (the base's own, e.g. bf16, as PEFT on transformers' default " +
          "load; the float32 delta is added in float32 and rounded once), 'float32', 'bfloat16' or 'float16'",
        'auto',
      ),
  ).action(mergeCommand);

  program
    .command('report')
    .description('write a self-contained HTML report of a run directory, or of several runs side by side and overlaid')
    .argument(
      '<run-dirs...>',
      "a run directory (any trainer, or a folder of runs such as the demo's), or several runs to compare (then give --out)",
    )
    .option('--out <file.html>', 'output file (default RUN_DIR/report.html)')
    .action(async (runDirs: string[], o: Opts) => {
      console.log(await writeReport(runDirs, o.out as string | undefined));
    });
  addLabelCommand(program);
  addLaunchCommand(program, fileURLToPath(import.meta.url));
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    await closeProcessGroup(); // a data-parallel run: wait for the other ranks, then disconnect
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2; // commander printed its one line
    if ((err as NodeJS.ErrnoException | null)?.code === 'EPIPE') stdoutClosed();
    console.error(`rlhf: ${firstLine(err)}`);
    if (process.env.RLHF_DEBUG && err instanceof Error) console.error(err.stack);
    return 1;
  }
}

// Run when executed as the `rlhf` binary (not when imported by tests).
const invoked = process.argv[1] ?? '';
if (/(^|[\\/])(rlhf|index\.js)$/.test(invoked) && import.meta.url.endsWith('/cli/index.js')) {
  guardProcess(() => main(process.argv.slice(2))).then((code) => {
    process.exitCode = code;
  });
}
