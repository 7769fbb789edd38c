/**
 * Starts the global view's world (test/support/global-view-world.ts) for the
 * /admin and tenant-move worker tests, in a child Node process: this project's
 * Vite resolver applies workerd/browser export conditions that `ws` and `pg`
 * must not get. Its bindings reach the Worker through vitest.config.ts.
 */
import { fork } from 'node:child_process';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    globalViewBindings: Record<string, string>;
  }
}

const CHILD = new URL('../support/global-view-world.ts', import.meta.url).pathname;

export default async function setup(project: TestProject) {
  const child = fork(CHILD, ['--serve'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: process.env });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const bindings = await new Promise<Record<string, string>>((resolve, reject) => {
    child.once('message', (m: { info?: Record<string, string>; error?: string }) => (m.info ? resolve(m.info) : reject(new Error(m.error))));
    child.once('exit', (code) => reject(new Error(`global view world exited (${code}) before it was ready`)));
  });
  project.provide('globalViewBindings', bindings);
  return async () => {
    if (child.connected) child.send('close');
    await exited;
  };
}
