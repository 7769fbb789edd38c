/** Process plumbing for the bench: free ports, child processes pinned to CPUs, CPU time read from /proc. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, fstatSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { cpus } from 'node:os';

export const CPU_COUNT = cpus().length;
export const HAS_TASKSET = spawnSync('taskset', ['--version']).status === 0;

/** CPU sets: servers under test on one core, load generator and origin on the other (2-core machines). */
export const SERVER_CPUS = CPU_COUNT >= 2 ? '0' : undefined;
export const CLIENT_CPUS = CPU_COUNT >= 2 ? String(CPU_COUNT - 1) : undefined;

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export function waitForPort(port: number, timeoutMs = 20_000, child?: Child): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const exited = child && (child.proc.exitCode !== null || child.proc.signalCode !== null);
      if (exited) return reject(new Error(`${child.name} exited before opening port ${port}:\n${child.output().slice(-2000)}`));
      const sock = connect(port, '127.0.0.1');
      sock.once('connect', () => {
        sock.destroy();
        resolve();
      });
      sock.once('error', () => {
        sock.destroy();
        if (Date.now() > deadline) reject(new Error(`port ${port} did not open within ${timeoutMs} ms`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

export interface Child {
  proc: ChildProcess;
  name: string;
  output: () => string;
  stop: () => Promise<void>;
}

const children = new Set<Child>();

/**
 * Starts a long-running child, pinned with taskset when `cpus` is given and taskset exists.
 * With `logFile` its stdout and stderr go to that file instead of a pipe to this process: a Worker
 * writes a log line per request, and a pipe wakes its reader (this process, on the other core) for
 * each one, which the kernel bills to the writer; on the platform a log line goes to an in-memory
 * buffer. On the bench machine the gateway's one line per request cost ~37 µs of workerd's CPU through
 * a pipe and ~30 µs into a file (bench:compare, a bundle without the call as the control).
 */
export function startChild(name: string, cmd: string, args: string[], opts: { cpus?: string; env?: NodeJS.ProcessEnv; logFile?: string } = {}): Child {
  const [file, argv] = opts.cpus && HAS_TASKSET ? ['taskset', ['-c', opts.cpus, cmd, ...args]] : [cmd, args];
  const fd = opts.logFile === undefined ? undefined : openSync(opts.logFile, 'w');
  const proc = spawn(file, argv, { stdio: fd === undefined ? ['ignore', 'pipe', 'pipe'] : ['ignore', fd, fd], env: opts.env ?? process.env });
  if (fd !== undefined) closeSync(fd); // the child holds its own copy
  let out = '';
  const keep = (b: Buffer) => {
    out += b.toString();
    if (out.length > 20_000) out = out.slice(-10_000);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const output = () => {
    if (opts.logFile === undefined) return out;
    // The file's tail only: a whole bench run's log lines can run to hundreds of MB.
    let tailFd: number | undefined;
    try {
      tailFd = openSync(opts.logFile, 'r');
      const size = fstatSync(tailFd).size;
      const buf = Buffer.alloc(Math.min(size, 10_000));
      readSync(tailFd, buf, 0, buf.length, size - buf.length);
      return buf.toString();
    } catch {
      return '';
    } finally {
      if (tailFd !== undefined) closeSync(tailFd);
    }
  };
  const child: Child = {
    proc,
    name,
    output,
    stop: () =>
      new Promise<void>((resolve) => {
        children.delete(child);
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
        setTimeout(() => proc.kill('SIGKILL'), 3000).unref();
      }),
  };
  children.add(child);
  proc.once('exit', (code, signal) => {
    if (children.has(child)) {
      children.delete(child);
      if (code !== 0 && signal !== 'SIGTERM') console.error(`[bench] ${name} exited (${code ?? signal}):\n${output().slice(-3000)}`);
    }
  });
  return child;
}

export async function stopAll(): Promise<void> {
  await Promise.all([...children].map((c) => c.stop()));
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    void stopAll().then(() => process.exit(130));
  });
}

/**
 * CPU time a process has used so far, in nanoseconds, summed over its threads
 * (/proc/<pid>/task/<tid>/schedstat: exact, unlike the 10 ms ticks of /proc/<pid>/stat).
 * With taskset the child's pid is taskset's, which execs the real program, so the pid is the same.
 */
export function cpuNs(pid: number): number {
  let total = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // a thread that just exited
    }
  }
  return total;
}

export function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
