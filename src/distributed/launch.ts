// `rlhf launch`: starts one process per rank on this node, as torchrun does, with torchrun's
// environment contract (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, GROUP_RANK,
// MASTER_ADDR, MASTER_PORT), each running an `rlhf` command. The ranks find one another through
// the TCPStore that rank 0 hosts at MASTER_ADDR:MASTER_PORT; for several nodes, run the same
// launch on each with its --node-rank. When a rank fails, the launcher names it, gives the others
// a grace period to fail on their own (they notice a dead rank within seconds), then stops them:
// SIGTERM, and SIGKILL a few seconds later for a rank that did not end (a frozen one: a process
// stopped with SIGSTOP does not act on SIGTERM until it is continued), as torchrun does.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';

/** Seconds between the SIGTERM that stops the ranks and the SIGKILL for those still running. */
export const KILL_AFTER_S = 5;

export interface LaunchOptions {
  nprocPerNode: number;
  nnodes: number;
  nodeRank: number;
  masterAddr: string;
  masterPort: number;
  /** Seconds a collective may take (TORCH_RLHF_DDP_TIMEOUT of the ranks); default theirs (1800). */
  ddpTimeout?: number;
  /** Seconds the other ranks get to exit after one failed, before they are stopped. Default 30. */
  gracePeriod?: number;
}

/** The environment of one rank, as torchrun gives it. */
export function rankEnv(o: LaunchOptions, localRank: number, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...base,
    RANK: String(o.nodeRank * o.nprocPerNode + localRank),
    LOCAL_RANK: String(localRank),
    WORLD_SIZE: String(o.nnodes * o.nprocPerNode),
    LOCAL_WORLD_SIZE: String(o.nprocPerNode),
    GROUP_RANK: String(o.nodeRank),
    MASTER_ADDR: o.masterAddr,
    MASTER_PORT: String(o.masterPort),
  };
  // torchrun sets OMP_NUM_THREADS=1 for several ranks per node; we share the node's cores out.
  if (!base.OMP_NUM_THREADS && o.nprocPerNode > 1)
    env.OMP_NUM_THREADS = String(Math.max(1, Math.floor(availableParallelism() / o.nprocPerNode)));
  if (o.ddpTimeout !== undefined) env.TORCH_RLHF_DDP_TIMEOUT = String(o.ddpTimeout);
  return env;
}

export function checkLaunchOptions(o: LaunchOptions): void {
  const int = (v: number, name: string, min: number) => {
    if (!Number.isInteger(v) || v < min) throw new Error(`rlhf launch: ${name} must be an integer ≥ ${min}, got ${v}`);
  };
  int(o.nprocPerNode, '--nproc-per-node', 1);
  int(o.nnodes, '--nnodes', 1);
  int(o.nodeRank, '--node-rank', 0);
  if (o.nodeRank >= o.nnodes) throw new Error(`rlhf launch: --node-rank ${o.nodeRank} must be below --nnodes ${o.nnodes}`);
  if (!Number.isInteger(o.masterPort) || o.masterPort < 1 || o.masterPort > 65535)
    throw new Error(`rlhf launch: --master-port must be in [1, 65535], got ${o.masterPort}`);
  if (o.ddpTimeout !== undefined && !(o.ddpTimeout > 0))
    throw new Error(`rlhf launch: --ddp-timeout must be a positive number of seconds, got ${o.ddpTimeout}`);
  if (o.gracePeriod !== undefined && !(o.gracePeriod >= 0))
    throw new Error(`rlhf launch: --grace-period must be a number of seconds ≥ 0, got ${o.gracePeriod}`);
}

/**
 * Fails at once, naming the port, when MASTER_PORT is taken on this machine: rank 0 could not host
 * the TCPStore there, and the other ranks would talk to whatever holds it until the join timeout.
 */
export async function checkPortFree(port: number): Promise<void> {
  const server = createServer();
  const error = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
    server.once('error', resolve);
    server.listen({ port, exclusive: true }, () => resolve(null)); // every interface, as the TCPStore listens
  });
  if (!error) return new Promise((resolve) => server.close(() => resolve()));
  const why = error.code === 'EADDRINUSE' ? 'is already in use on this machine' : `cannot be listened on (${error.code ?? error.message})`;
  throw new Error(`rlhf launch: --master-port ${port} ${why}, so rank 0 cannot host the TCPStore there; choose a free port`);
}

/**
 * Runs `node <cli> <command…>` once per local rank and resolves with the exit code: 0 when every
 * rank succeeded, else the first failure's.
 */
export async function launch(o: LaunchOptions, command: string[], cli: string): Promise<number> {
  checkLaunchOptions(o);
  if (command.length === 0)
    throw new Error('rlhf launch: no command to run: rlhf launch --nproc-per-node N -- sft --model … --data … --out …');
  if (command[0] === 'launch') throw new Error('rlhf launch: the command to run cannot be launch itself');
  if (o.nodeRank === 0) await checkPortFree(o.masterPort);
  const children: ChildProcess[] = [];
  let firstFailure: { rank: number; code: number } | null = null;
  const timers: NodeJS.Timeout[] = [];
  const running = () => children.filter((c) => c.exitCode === null && c.signalCode === null);
  // The signal now, SIGKILL later for any rank it did not end.
  const stopAll = (signal: NodeJS.Signals) => {
    running().forEach((c) => c.kill(signal));
    timers.push(setTimeout(() => running().forEach((c) => c.kill('SIGKILL')), KILL_AFTER_S * 1000));
  };
  const forward = (signal: NodeJS.Signals) => () => stopAll(signal);
  const onInt = forward('SIGINT');
  const onTerm = forward('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  try {
    const exits = Array.from({ length: o.nprocPerNode }, (_, local) => {
      const rank = o.nodeRank * o.nprocPerNode + local;
      const child = spawn(process.execPath, [cli, ...command], { stdio: 'inherit', env: rankEnv(o, local) });
      children.push(child);
      return new Promise<void>((resolve) => {
        child.on('error', (err) => {
          firstFailure ??= { rank, code: 1 };
          console.error(`rlhf launch: rank ${rank} could not start: ${err.message}`);
          resolve();
        });
        child.on('exit', (code, signal) => {
          const failed = code !== 0;
          if (failed && firstFailure === null) {
            firstFailure = { rank, code: code ?? 1 };
            console.error(
              `rlhf launch: rank ${rank} failed (${signal ? `signal ${signal}` : `exit code ${code}`}); the other ranks get ` +
                `${o.gracePeriod ?? 30} s to stop`,
            );
            timers.push(setTimeout(() => stopAll('SIGTERM'), (o.gracePeriod ?? 30) * 1000));
          }
          resolve();
        });
      });
    });
    await Promise.all(exits);
  } finally {
    timers.forEach(clearTimeout);
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
  return (firstFailure as { rank: number; code: number } | null)?.code ?? 0;
}
