/**
 * HAProxy in two roles: the shared origin (a tiny native server answering from
 * memory, so the origin is never the bottleneck) and the native peer gateway
 * (jwt_verify + claim checks + claim-based use_backend).
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, startChild, waitForPort, type Child } from './proc.ts';

export const ORIGIN_BODY = '{"pages":[{"id":"p1","title":"hello"}]}';

export function haproxyVersion(): string | undefined {
  const r = spawnSync('haproxy', ['-v']);
  if (r.status !== 0) return undefined;
  return /version (\S+)/.exec(r.stdout.toString())?.[1];
}

const GLOBAL = `global
  nbthread 1
  maxconn 4000
  tune.bufsize 32768
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s
  option http-keep-alive
`;

async function run(dir: string, name: string, cfg: string, port: number, cpus?: string): Promise<Child> {
  const path = join(dir, `${name}.cfg`);
  writeFileSync(path, cfg);
  const check = spawnSync('haproxy', ['-c', '-f', path]);
  // HAProxy only warns when jwt_verify cannot load its key, then rejects every token: treat warnings as errors.
  if (check.status !== 0 || /\[WARNING\]|\[ALERT\]/.test(`${check.stdout}${check.stderr}`)) throw new Error(`haproxy config ${name} invalid:\n${check.stdout}${check.stderr}`);
  const child = startChild(name, 'haproxy', ['-db', '-f', path], { cpus });
  await waitForPort(port, 20_000, child);
  return child;
}

export async function startOrigin(dir: string, cpus?: string): Promise<{ child: Child; url: string }> {
  const port = await freePort();
  const cfg = `${GLOBAL}
frontend origin
  bind 127.0.0.1:${port}
  http-request return status 200 content-type application/json string '${ORIGIN_BODY}'
`;
  return { child: await run(dir, 'origin', cfg, port, cpus), url: `http://127.0.0.1:${port}` };
}

export interface JwtPeerOptions {
  publicKeyPemPath: string;
  issuer: string;
  audience: string;
  /** region name → origin host:port */
  regions: Record<string, string>;
}

/**
 * The same checks the gateway makes, in HAProxy's terms: alg allowlisted, signature,
 * iss, aud, exp (present and in the future), region claim configured; then the
 * Authorization header dropped, identity headers set from the claims, and the
 * backend chosen by the region claim.
 */
export async function startJwtPeer(dir: string, o: JwtPeerOptions, cpus?: string): Promise<{ child: Child; url: string }> {
  const port = await freePort();
  const backends = Object.entries(o.regions)
    .map(([name, hostPort]) => `backend be_${name}\n  http-reuse always\n  server s1 ${hostPort}\n`)
    .join('\n');
  const cfg = `${GLOBAL}
frontend jwt_peer
  bind 127.0.0.1:${port}
  http-request set-var(txn.bearer) http_auth_bearer
  http-request set-var(txn.alg) var(txn.bearer),jwt_header_query('$.alg')
  http-request deny status 401 unless { var(txn.alg) -m str ES256 }
  http-request deny status 401 unless { var(txn.bearer),jwt_verify(txn.alg,"${o.publicKeyPemPath}") -m int 1 }
  http-request set-var(txn.iss) var(txn.bearer),jwt_payload_query('$.iss')
  http-request deny status 401 unless { var(txn.iss) -m str ${o.issuer} }
  http-request set-var(txn.aud) var(txn.bearer),jwt_payload_query('$.aud')
  http-request deny status 401 unless { var(txn.aud) -m str ${o.audience} }
  http-request set-var(txn.exp) var(txn.bearer),jwt_payload_query('$.exp','int')
  http-request set-var(txn.now) date
  http-request deny status 401 unless { var(txn.exp),sub(txn.now) -m int gt 0 }
  http-request set-var(txn.region) var(txn.bearer),jwt_payload_query('$.tenant_region')
  http-request deny status 403 unless { var(txn.region) -m str ${Object.keys(o.regions).join(' ')} }
  http-request set-var(txn.tenant) var(txn.bearer),jwt_payload_query('$.tenant_id')
  http-request del-header authorization
  http-request set-header x-tenant-id %[var(txn.tenant)]
  http-request set-header x-tenant-region %[var(txn.region)]
  use_backend be_%[var(txn.region)]

${backends}`;
  return { child: await run(dir, 'haproxy-jwt', cfg, port, cpus), url: `http://127.0.0.1:${port}` };
}
