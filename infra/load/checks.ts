/**
 * The load test's verdicts, as pure functions over what it recorded, so each can be shown
 * to catch the violation it is for (checks.test.ts).
 */

export interface PageRow {
  id: string;
  tenant_id: string;
  region: string;
  title: string;
}

export interface TenantRef {
  id: string;
  region: string;
}

/** Rows a tenant got back: all its own (tenant id and title prefix), all from its home region. */
export function foreignRows(t: TenantRef, rows: PageRow[], what: string): string[] {
  const out: string[] = [];
  for (const row of rows) {
    if (row.tenant_id !== t.id || !row.title.startsWith(`${t.id}|`)) out.push(`tenant ${t.id} saw a row of another tenant (${row.tenant_id}) in ${what}`);
    if (row.region !== t.region) out.push(`tenant ${t.id} (home ${t.region}) got a row from region ${row.region} in ${what}`);
  }
  return out;
}

/** Every acknowledged page is in its home region's database; no page is stored outside its tenant's home. */
export function lostOrMisplacedWrites(
  acked: Array<{ tenant: TenantRef; pageId: string }>,
  stored: Map<string, PageRow[]>,
  homeOf: Map<string, string>,
): string[] {
  const out: string[] = [];
  const byRegion = new Map([...stored].map(([region, rows]) => [region, new Map(rows.map((r) => [r.id, r]))]));
  for (const [region, rows] of stored) {
    for (const p of rows) {
      const home = homeOf.get(p.tenant_id);
      if (home && home !== region) out.push(`page ${p.id} of tenant ${p.tenant_id} (home ${home}) is stored in ${region}`);
    }
  }
  for (const { tenant, pageId } of acked) {
    const row = byRegion.get(tenant.region)?.get(pageId);
    if (!row) out.push(`acknowledged page ${pageId} of tenant ${tenant.id} is missing from ${tenant.region}'s database`);
    else if (row.tenant_id !== tenant.id) out.push(`acknowledged page ${pageId} belongs to ${row.tenant_id} in the database, not ${tenant.id}`);
  }
  return out;
}

/** What each regional app received: only tenants of its own zone, tagged with their home region. */
export function requestsOutsideZone(
  seen: Array<{ app: string; tenant: string | null; region: string | null }>,
  homeOf: Map<string, string>,
  zones: Record<string, string>,
): string[] {
  const out: string[] = [];
  const zoneOf = (r: string) => zones[r] ?? r;
  for (const s of seen) {
    const home = s.tenant ? homeOf.get(s.tenant) : undefined;
    if (!home) {
      out.push(`region ${s.app} received a request for an unknown tenant (${s.tenant ?? 'none'})`);
      continue;
    }
    if (zoneOf(home) !== zoneOf(s.app)) out.push(`region ${s.app} (zone ${zoneOf(s.app)}) received a request of tenant ${s.tenant} from zone ${zoneOf(home)}`);
    if (s.region !== home) out.push(`region ${s.app} received tenant ${s.tenant} tagged ${s.region}, home ${home}`);
  }
  return out;
}

/** Error keys are "<phase> <home region> <status> <code>": only the killed region's tenants may have any. */
export function errorsOutsideKilledRegion(errors: Record<string, number>, killRegion: string): string[] {
  return Object.entries(errors)
    .filter(([key]) => key.split(' ')[1] !== killRegion)
    .map(([key, n]) => `${n} × "${key}" for tenants of a region that stayed up`);
}
