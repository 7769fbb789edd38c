/**
 * The verdicts of `npm run load -- --move` (move.ts), as pure functions over what it recorded,
 * so each can be shown to catch the violation it is for (move-checks.test.ts).
 */

/** A 2xx list read: which page ids it returned, out of a page of `limit`. */
export interface ListRead {
  tenant: string;
  /** Wall-clock ms when the request was sent / its response arrived. */
  sentAt: number;
  receivedAt: number;
  limit: number;
  ids: string[];
}

/** A page the client was told exists (201), or a seeded one (ackedAt 0). */
export interface Ack {
  tenant: string;
  id: string;
  ackedAt: number;
}

/**
 * No read returned fewer pages than were acknowledged before it began. A list is the `limit`
 * newest pages by id (UUIDv7, time-ordered): every page acknowledged before the read was sent must
 * be in it, unless the list was full and the page is older than the oldest one returned.
 */
export function shortReads(reads: ListRead[], acks: Ack[]): string[] {
  const byTenant = new Map<string, Ack[]>();
  for (const a of acks) (byTenant.get(a.tenant) ?? byTenant.set(a.tenant, []).get(a.tenant)!).push(a);
  const out: string[] = [];
  for (const r of reads) {
    const got = new Set(r.ids);
    const full = r.ids.length >= r.limit;
    const oldest = full ? r.ids.reduce((m, id) => (id < m ? id : m)) : '';
    const missing = (byTenant.get(r.tenant) ?? []).filter((a) => a.ackedAt < r.sentAt && !got.has(a.id) && (!full || a.id > oldest));
    if (missing.length) out.push(`tenant ${r.tenant}: a 2xx list sent at ${r.sentAt} returned ${r.ids.length} pages but missed ${missing.length} acknowledged before it (e.g. ${missing[0]!.id})`);
  }
  return out;
}

/** Where a tenant lived: from `from` (ms, inclusive) until `until` (ms; Infinity while it still lives there). */
export interface Residence {
  tenant: string;
  region: string;
  from: number;
  until: number;
}

/** A 2xx answer and the region that served it. */
export interface Served {
  tenant: string;
  region: string;
  sentAt: number;
  receivedAt: number;
  what: string;
}

/**
 * No 2xx answer came from a region where the tenant did not live at that moment: its request's
 * time span must overlap one of the tenant's residences in that region. (A request in flight
 * across the switch may be answered by either side of it, so overlap, not containment.)
 */
export function servedOutsideResidence(served: Served[], residences: Residence[]): string[] {
  const out: string[] = [];
  for (const s of served) {
    const ok = residences.some((r) => r.tenant === s.tenant && r.region === s.region && s.sentAt <= r.until && s.receivedAt >= r.from);
    if (!ok) out.push(`tenant ${s.tenant}: ${s.what} served by ${s.region} (${s.sentAt}–${s.receivedAt}) where it did not live then`);
  }
  return out;
}

/**
 * Residences from the initial homes and the moves' switch times: a tenant leaves the old region
 * when the old region's switch commits (`leftAt`: after that commit returned) and lives in the
 * new one once its arrival commits (`arrivedAt`: before that commit was sent).
 */
export function residencesOf(
  homes: Map<string, string>,
  moves: Array<{ tenant: string; from: string; to: string; leftAt: number; arrivedAt: number }>,
): Residence[] {
  const open = new Map<string, Residence>();
  const out: Residence[] = [];
  for (const [tenant, region] of homes) open.set(tenant, { tenant, region, from: -Infinity, until: Infinity });
  for (const m of [...moves].sort((a, b) => a.leftAt - b.leftAt)) {
    const cur = open.get(m.tenant);
    if (cur) {
      cur.until = m.leftAt;
      out.push(cur);
    }
    open.set(m.tenant, { tenant: m.tenant, region: m.to, from: m.arrivedAt, until: Infinity });
  }
  return [...out, ...open.values()];
}

/** One sample of the global view: its page count between two exact sums of the regions' own counts. */
export interface CountSample {
  at: number;
  /** Σ of every region's `SELECT count(*) FROM pages`, taken while no move could switch. */
  before: number;
  global: number;
  after: number;
  what: string;
}

/**
 * Pages are only ever added during the run, so a global view that counts each row exactly once
 * lies between the regions' sums taken just before and just after it. A tenant counted twice (or
 * not at all) puts it outside by that tenant's page count.
 */
export function miscounts(samples: CountSample[]): string[] {
  return samples
    .filter((s) => s.global < s.before || s.global > s.after)
    .map((s) => `${s.what} at ${s.at} counted ${s.global} pages; the regions held ${s.before}…${s.after}`);
}

/** Every refusal is one of the two a move allows; a 503 carries Retry-After. */
export function wrongRefusal(status: number, code: string | undefined, retryAfter: string | null): string | undefined {
  if (status === 409 && code === 'tenant_relocated') return undefined;
  if (status === 503 && code === 'tenant_moving') return retryAfter && /^\d+$/.test(retryAfter) ? undefined : '503 tenant_moving without Retry-After';
  return `${status} ${code ?? 'no code'}`;
}
