/**
 * A local world in a child process of its own, for load runs that time requests: the world's
 * servers (central, the regional apps, PGlite, which runs its queries on the event loop) must not
 * share the event loop that starts and times the clients' requests, or their work shows up as
 * client-side delay. The parent gets the URLs it needs and stops the child with `stop()`.
 *
 * Child side: run as a script with the world's options as JSON in argv[2]; it answers
 * {ready: {...}} or {failed: message} on the IPC channel, and stops the world on {stop: true}.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startWorld, type WorldOptions } from '../world.ts';
import { stopWorldOnSignals } from './common.ts';

/** What a load run needs of a world in another process. */
export interface RemoteWorld {
  gatewayUrl: string;
  regions: string[];
  pid: number;
  stop(): Promise<void>;
}

type Serializable = Pick<WorldOptions, 'sandboxDir' | 'gatewayLogLevel' | 'gatewayVars' | 'regions' | 'dbMode' | 'pgUrl' | 'dataPool'>;
type FromChild = { ready: { gatewayUrl: string; regions: string[] } } | { failed: string } | { stopped: true; error?: string };

export async function startWorldProcess(options: Serializable): Promise<RemoteWorld> {
  const child = fork(fileURLToPath(import.meta.url), [JSON.stringify(options)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const first = await Promise.race([
    new Promise<FromChild>((resolve) => child.once('message', (m) => resolve(m as FromChild))),
    exited.then((code): FromChild => ({ failed: `the world process exited (code ${code}) before it was up` })),
  ]);
  if (!('ready' in first)) {
    child.kill('SIGTERM');
    throw new Error(`local world: ${'failed' in first ? first.failed : 'stopped before it was up'}`);
  }
  return {
    ...first.ready,
    pid: child.pid!,
    async stop() {
      const stopped = new Promise<FromChild>((resolve) => child.once('message', (m) => resolve(m as FromChild)));
      // A child that already stopped itself (a signal reaches both on Ctrl-C) has closed the channel:
      // the callback takes the send error that would otherwise be an unhandled 'error' event.
      if (child.connected) child.send({ stop: true }, () => {});
      const answer = await Promise.race([stopped, exited.then((): FromChild => ({ stopped: true, error: 'the world process exited without reporting' }))]);
      await exited;
      if ('stopped' in answer && answer.error) throw new Error(`local world: ${answer.error}`);
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.send) {
  const send = (m: FromChild) => new Promise<void>((resolve) => process.send!(m, undefined, {}, () => resolve()));
  try {
    const world = await startWorld(JSON.parse(process.argv[2]!) as Serializable);
    // The parent going away without a stop message still stops the world, and so does a signal (Ctrl-C
    // on a load run signals this process too).
    process.once('disconnect', () => void world.stop().finally(() => process.exit(0)));
    stopWorldOnSignals(() => world.stop(), (m) => console.error(`[world] ${m}`));
    process.on('message', (m: { stop?: boolean }) => {
      if (!m.stop) return;
      void world.stop().then(
        () => send({ stopped: true }).then(() => process.exit(0)),
        (err: Error) => send({ stopped: true, error: err.message }).then(() => process.exit(1)),
      );
    });
    await send({ ready: { gatewayUrl: world.gatewayUrl!, regions: Object.keys(world.regions) } });
  } catch (err) {
    await send({ failed: (err as Error).message });
    process.exit(1);
  }
}
