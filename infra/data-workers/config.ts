/**
 * The local world's regional data Workers (src/data-worker): one generated wrangler
 * config per region (in the world's sandbox: it carries the region's assertion key ring),
 * run by the same `wrangler dev` as the gateway, which reaches them through the
 * service bindings of wrangler.toml. Each reaches its region's local database over
 * the Hyperdrive transport (node-postgres over TCP) via wrangler's local Hyperdrive:
 * `localConnectionString` must carry a password, which PGlite's wire server and
 * trust-auth PostgreSQL never ask for.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface LocalDataWorker {
  region: string;
  /** The region's database as the data Worker logs in: host, port, database, user. */
  databaseUrl: string;
  /** PGlite has one superuser session: every transaction switches to this role (infra/sql/region/003_gateway_role.sql). */
  role?: string;
}

/** The service name wrangler.toml's [[services]] bind to. */
export const dataWorkerName = (region: string) => `etr-data-${region}`;
/** The binding name in the gateway's DATA_WORKERS. */
export const dataWorkerBinding = (region: string) => `DATA_${region.toUpperCase().replaceAll('-', '_')}`;

/**
 * Writes one wrangler config (JSON) per region into `dir`; returns their paths. `assertionKeys` is the
 * world's GATEWAY_ASSERTION_KEYS: each data Worker gets only its own region's ring.
 */
export async function writeDataWorkerConfigs(dir: string, repoRoot: string, assertionKeys: Record<string, { kid: string; secret: string }[]>, workers: readonly LocalDataWorker[]): Promise<string[]> {
  const paths: string[] = [];
  for (const w of workers) {
    const local = new URL(w.databaseUrl);
    if (!local.password) local.password = 'local';
    const config = {
      name: dataWorkerName(w.region),
      main: join(repoRoot, 'src/data-worker/index.ts'),
      compatibility_date: '2026-11-01',
      compatibility_flags: ['nodejs_compat'],
      hyperdrive: [{ binding: 'HYPERDRIVE', id: '0000000000000000000000000000d001', localConnectionString: local.toString() }],
      vars: {
        DATA_REGION: w.region,
        GATEWAY_ASSERTION_KEYS: JSON.stringify({ [w.region]: assertionKeys[w.region] }),
        REGION_DATABASES: JSON.stringify({ [w.region]: { primary: { hyperdrive: 'HYPERDRIVE' }, ...(w.role ? { role: w.role } : {}) } }),
      },
    };
    const path = join(dir, `data-${w.region}.wrangler.json`);
    await writeFile(path, JSON.stringify(config, null, 2), { mode: 0o600 });
    paths.push(path);
  }
  return paths;
}
