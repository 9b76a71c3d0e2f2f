// The `rlhf launch` subcommand (src/distributed/launch.ts does the launching): its flags,
// torchrun's names, and the rlhf command to run after `--`.
import type { Command } from 'commander';
import { launch } from '../distributed/launch.js';

export function addLaunchCommand(program: Command, cli: string): void {
  program
    .command('launch')
    .description(
      "data-parallel training: start --nproc-per-node ranks of an rlhf command on this node (torchrun's environment), e.g. rlhf " +
        'launch --nproc-per-node 2 -- sft --model small --data sft.jsonl --out runs/sft',
    )
    .argument('<command...>', 'the rlhf command and its flags, after --')
    .option('--nproc-per-node <n>', 'ranks on this node', '1')
    .option('--nnodes <m>', 'nodes in the run', '1')
    .option('--node-rank <r>', "this node's index in [0, nnodes)", '0')
    .option('--master-addr <host>', "where rank 0 hosts the TCPStore (node 0's address)", '127.0.0.1')
    .option('--master-port <port>', 'its port', '29500')
    .option('--ddp-timeout <seconds>', 'how long a collective may take before every rank fails, naming the one that stopped (default 1800)')
    .option(
      '--grace-period <seconds>',
      'after a rank fails, how long the others get before they are stopped (SIGTERM, then SIGKILL 5 s later)',
      '30',
    )
    .action(async (command: string[], o: Record<string, string | undefined>) => {
      const num = (v: string | undefined, flag: string): number => {
        const n = Number(v);
        if (v === undefined || v.trim() === '' || !Number.isFinite(n)) throw new Error(`rlhf launch: ${flag} must be a number, got '${v}'`);
        return n;
      };
      const code = await launch(
        {
          nprocPerNode: num(o.nprocPerNode, '--nproc-per-node'),
          nnodes: num(o.nnodes, '--nnodes'),
          nodeRank: num(o.nodeRank, '--node-rank'),
          masterAddr: o.masterAddr!,
          masterPort: num(o.masterPort, '--master-port'),
          ...(o.ddpTimeout !== undefined ? { ddpTimeout: num(o.ddpTimeout, '--ddp-timeout') } : {}),
          gracePeriod: num(o.gracePeriod, '--grace-period'),
        },
        command,
        cli,
      );
      if (code !== 0) process.exitCode = code;
    });
}
