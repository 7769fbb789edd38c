/**
 * Page storage for one region. Every query runs as app_rw with the tenant set
 * for row-level security AND filters on tenant_id itself: either alone keeps
 * tenants apart.
 */
import type { Db, Queryable } from '../db/types.ts';
import { uuidv7 } from './uuid-v7.ts';

export interface Page {
  id: string;
  tenant_id: string;
  region: string;
  title: string;
  body: string;
  created_at: string;
  updated_at: string;
}

interface PageRow extends Omit<Page, 'created_at' | 'updated_at'> {
  created_at: Date | string;
  updated_at: Date | string;
}

const COLUMNS = 'id, tenant_id, region, title, body, created_at, updated_at';

const toPage = (r: PageRow): Page => ({
  ...r,
  created_at: new Date(r.created_at).toISOString(),
  updated_at: new Date(r.updated_at).toISOString(),
});

export class TenantNotProvisionedError extends Error {}

/** Why the region refused a tenant (tenant_guard in infra/sql/region/004_tenant_moves.sql). */
export class TenantResidencyError extends Error {
  readonly state: 'relocated' | 'moving';
  constructor(state: 'relocated' | 'moving') {
    super(state === 'relocated' ? 'tenant has moved to another region' : 'tenant is moving');
    this.state = state;
  }
}

const RESIDENCY_STATES: Record<string, TenantResidencyError['state']> = { ETR01: 'relocated', ETR02: 'moving' };

/**
 * One transaction as the tenant: first the region's own check that the tenant lives here (a moved
 * tenant's tombstone, a move's fence), then `fn`. Reads run in REPEATABLE READ so the check and the
 * query share one snapshot.
 */
export async function asTenant<T>(db: Db, tenantId: string, access: 'read' | 'write', fn: (q: Queryable) => Promise<T>): Promise<T> {
  try {
    return await db.transaction(async (tx) => {
      if (access === 'read') await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
      await tx.query("SELECT tenant_guard($1, $2)", [tenantId, access === 'write']);
      await tx.query('SET LOCAL ROLE app_rw');
      await tx.query("SELECT set_config('app.tenant_id', $1, true)", [tenantId]);
      return fn(tx);
    });
  } catch (err) {
    const state = RESIDENCY_STATES[(err as { code?: string }).code ?? ''];
    if (state) throw new TenantResidencyError(state);
    throw err;
  }
}

export function pageStore(db: Db, region: string) {
  return {
    async create(tenantId: string, input: { title: string; body: string }): Promise<Page> {
      try {
        return await asTenant(db, tenantId, 'write', async (q) => {
          const r = await q.query<PageRow>(
            `INSERT INTO pages (id, tenant_id, region, title, body) VALUES ($1, $2, $3, $4, $5) RETURNING ${COLUMNS}`,
            [uuidv7(), tenantId, region, input.title, input.body],
          );
          return toPage(r.rows[0]!);
        });
      } catch (err) {
        // The tenant was never registered in this region's database.
        if ((err as { code?: string }).code === '23503') throw new TenantNotProvisionedError();
        throw err;
      }
    },

    /** Newest first (UUIDv7 order); `before` continues after the last id of a previous page. */
    list(tenantId: string, opts: { limit: number; before?: string }): Promise<Page[]> {
      return asTenant(db, tenantId, 'read', async (q) => {
        const r = opts.before
          ? await q.query<PageRow>(
              `SELECT ${COLUMNS} FROM pages WHERE tenant_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3`,
              [tenantId, opts.before, opts.limit],
            )
          : await q.query<PageRow>(`SELECT ${COLUMNS} FROM pages WHERE tenant_id = $1 ORDER BY id DESC LIMIT $2`, [
              tenantId,
              opts.limit,
            ]);
        return r.rows.map(toPage);
      });
    },

    get(tenantId: string, id: string): Promise<Page | undefined> {
      return asTenant(db, tenantId, 'read', async (q) => {
        const r = await q.query<PageRow>(`SELECT ${COLUMNS} FROM pages WHERE tenant_id = $1 AND id = $2`, [tenantId, id]);
        return r.rows[0] && toPage(r.rows[0]);
      });
    },

    update(tenantId: string, id: string, patch: { title?: string; body?: string }): Promise<Page | undefined> {
      return asTenant(db, tenantId, 'write', async (q) => {
        const r = await q.query<PageRow>(
          `UPDATE pages SET title = COALESCE($3, title), body = COALESCE($4, body), updated_at = now()
            WHERE tenant_id = $1 AND id = $2 RETURNING ${COLUMNS}`,
          [tenantId, id, patch.title ?? null, patch.body ?? null],
        );
        return r.rows[0] && toPage(r.rows[0]);
      });
    },

    remove(tenantId: string, id: string): Promise<boolean> {
      return asTenant(db, tenantId, 'write', async (q) => {
        const r = await q.query('DELETE FROM pages WHERE tenant_id = $1 AND id = $2', [tenantId, id]);
        return r.rowCount > 0;
      });
    },
  };
}
