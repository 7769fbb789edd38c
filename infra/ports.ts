/**
 * Ports of the local world. `npm run dev` prefers fixed, memorable ports; on a busy machine any of
 * them may be taken, so every service starts through `onPreferredPort` (or takes a number from
 * `freePort` when a child process needs it up front): the preferred port when free, else one the
 * OS assigns, and each fallback is reported so the caller can say where the service went.
 */
import { createServer, type AddressInfo, type Server } from 'node:net';

export interface PortFallback {
  service: string;
  preferred: number;
  port: number;
}

export type OnPortFallback = (f: PortFallback) => void;

export const isAddrInUse = (e: unknown): boolean => (e as NodeJS.ErrnoException)?.code === 'EADDRINUSE';

/**
 * Starts a service on `preferred` (0 or undefined: any port); when that port is taken, starts it
 * on an OS-assigned one and reports the move. Any other error is the caller's.
 */
export async function onPreferredPort<T extends { port: number }>(
  service: string,
  preferred: number | undefined,
  start: (port: number) => Promise<T>,
  onFallback?: OnPortFallback,
): Promise<T> {
  if (!preferred) return start(0);
  try {
    return await start(preferred);
  } catch (e) {
    if (!isAddrInUse(e)) throw e;
  }
  const started = await start(0);
  onFallback?.({ service, preferred, port: started.port });
  return started;
}

/** Listens and closes again: the port was free a moment ago (for processes that bind it themselves, like wrangler). */
function probe(port: number, host: string): Promise<{ port: number }> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(port, host, () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve({ port: p }));
    });
  });
}

/**
 * A port that is free right now, `preferred` if it is. Another process may still take it before
 * the caller binds it; for a developer's machine that window is small enough.
 */
export async function freePort(preferred = 0, opts: { service?: string; host?: string; onFallback?: OnPortFallback } = {}): Promise<number> {
  const host = opts.host ?? '127.0.0.1';
  return (await onPreferredPort(opts.service ?? 'port', preferred, (p) => probe(p, host), opts.onFallback)).port;
}

/** Listens on `port` (0: the OS chooses); returns the port. A taken port rejects with EADDRINUSE (see onPreferredPort). */
export async function listen(server: Server, host: string, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}
