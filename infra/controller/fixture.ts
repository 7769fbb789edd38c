/**
 * A throwaway multi-region world on the real PostgreSQL server for tests of the
 * global view and tenant moves: a control-plane (central) database, one database
 * per region (migrated with infra/sql), and a controller database built from them.
 * Every database name is unique per call and dropped by close().
 */
import { randomBytes } from 'node:crypto';
import { migrate } from '../db/migrate.ts';
import { startPostgresDatabase, type ProvisionedDb } from '../db/provision.ts';
import { DEFAULT_LOCAL_PG_URL, tcpReachable } from '../db/reachable.ts';
import { buildController, type ControllerRegion } from './build.ts';

export const PG_URL = process.env.LOCAL_PG_URL || DEFAULT_LOCAL_PG_URL;

/** null when the server is reachable; otherwise why tests that need it are skipped. */
export async function realPgUnavailable(): Promise<string | null> {
  return (await tcpReachable(PG_URL)) ? null : `no PostgreSQL reachable at ${new URL(PG_URL).host} (set LOCAL_PG_URL)`;
}

export interface GlobalFixture {
  prefix: string;
  central: ProvisionedDb;
  regions: Map<string, ProvisionedDb>;
  controller: ProvisionedDb;
  /** The region list the controller was built from (change rawRows and rebuild to test residency). */
  regionList: ControllerRegion[];
  /** postgres:// URL of the controller as the reporting role the gateway uses. */
  reporterUrl: string;
  /** postgres:// URL of the control plane as the gateway's login (audit insert, relocations read only). */
  gatewayControlPlaneUrl: string;
  close(): Promise<void>;
}

export async function startGlobalFixture(opts: {
  regions: Array<{ name: string; rawRows?: boolean }>;
  build?: boolean;
}): Promise<GlobalFixture> {
  const prefix = `etr_g_${randomBytes(5).toString('hex')}`;
  const opened: ProvisionedDb[] = [];
  const open = async (suffix: string) => {
    const d = await startPostgresDatabase({ serverUrl: PG_URL, database: `${prefix}_${suffix}` });
    opened.push(d);
    return d;
  };
  try {
    const central = await open('central');
    await migrate(central.db, 'central');
    const regions = new Map<string, ProvisionedDb>();
    for (const r of opts.regions) {
      const d = await open(r.name.replace(/-/g, '_'));
      await migrate(d.db, 'region');
      regions.set(r.name, d);
    }
    const controller = await open('controller');
    const regionList = opts.regions.map((r) => ({ name: r.name, url: regions.get(r.name)!.url, rawRows: r.rawRows ?? true }));
    if (opts.build !== false) await buildController({ controllerUrl: controller.url, regions: regionList });
    const reporter = new URL(controller.url);
    reporter.username = 'admin_reporter';
    reporter.password = '';
    const gw = new URL(central.url);
    gw.username = 'gateway';
    gw.password = '';
    return {
      prefix,
      gatewayControlPlaneUrl: gw.toString(),
      central,
      regions,
      controller,
      regionList,
      reporterUrl: reporter.toString(),
      close: async () => {
        // The controller holds FDW connections into the regions: drop it first.
        for (const d of [...opened].reverse()) await d.close().catch(() => {});
      },
    };
  } catch (err) {
    for (const d of opened.reverse()) await d.close().catch(() => {});
    throw err;
  }
}
