/**
 * A control-plane database for tests, as its own Node process: PGlite with the
 * central migrations behind the local WebSocket proxy (what the Worker reaches
 * with @neondatabase/serverless). Prints one JSON line {url, wsProxy} when ready
 * and runs until stdin closes or it gets SIGTERM.
 *
 * A separate process because the worker test project's Vite pipeline resolves
 * packages with workerd/browser conditions (`ws` would be its browser stub).
 * Run with Node 22 (type stripping): `node test/support/control-plane-db.ts`.
 */
import { migrate } from '../../infra/db/migrate.ts';
import { startPgliteDatabase } from '../../infra/db/provision.ts';
import { startWsProxy } from '../../infra/ws-proxy/index.ts';

const db = await startPgliteDatabase();
await migrate(db.db, 'central');
const proxy = await startWsProxy({ target: { host: db.host, port: db.port } });

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  await proxy.close();
  await db.close();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.resume();

// The neon driver insists on a password; PGlite's wire server ignores it.
process.stdout.write(JSON.stringify({ url: db.url.replace(/^postgres:\/\/postgres@/, 'postgres://postgres:local@'), wsProxy: proxy.hostPort }) + '\n');
