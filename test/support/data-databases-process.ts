/**
 * Runs startDataDatabases in its own Node process (native module resolution and
 * type stripping), for the worker project's global setup: that project's Vite
 * resolver applies the workerd/browser export conditions (e.g. `ws` would resolve
 * to its browser stub, `pg` to its Cloudflare socket), which the local world's Node
 * modules must not get. Protocol (IPC): the child sends {info} or {error}; the
 * parent sends 'close' (or disconnects, e.g. when it dies) and the child tears
 * everything down (drops databases, stops the replica) and exits.
 */
import { fork } from 'node:child_process';
import type { DataDatabases } from './data-databases.ts';

const CHILD = new URL('./data-databases.ts', import.meta.url).pathname;

export async function startDataDatabasesProcess(regions: readonly string[]): Promise<{ info: DataDatabases; close(): Promise<void> }> {
  const child = fork(CHILD, ['--serve', regions.join(',')], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: process.env });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const info = await new Promise<DataDatabases>((resolve, reject) => {
    child.once('message', (m: { info?: DataDatabases; error?: string }) => (m.info ? resolve(m.info) : reject(new Error(m.error))));
    child.once('exit', (code) => reject(new Error(`data databases process exited (${code}) before it was ready`)));
  });
  return {
    info,
    async close() {
      if (child.connected) child.send('close');
      await exited;
    },
  };
}
