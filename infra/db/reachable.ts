/** Whether something accepts TCP connections at a postgres:// URL (tests skip real-PG cases when not). */
import { connect } from 'node:net';

export function tcpReachable(url: string, timeoutMs = 1000): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const s = connect({ host: u.hostname, port: Number(u.port || 5432) });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

export const DEFAULT_LOCAL_PG_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
