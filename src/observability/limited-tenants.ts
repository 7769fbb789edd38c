/**
 * Requests refused by the tenant limits (429 rate_limited, 503 tenant_busy), counted per tenant
 * over the status page's window, for this isolate. Only refused requests touch it, so the hot path
 * of an admitted request pays nothing; memory is bounded by MAX_LIMITED_TENANTS rings.
 */
/** Rows held at once, `(other)` included; a tenant limited while all are recent is counted under it. */
export const MAX_LIMITED_TENANTS = 32;
/** Not a tenant id (parentheses are outside their alphabet), so it cannot collide with one. */
export const OTHER_TENANTS = '(other)';

interface Slot {
  start: number;
  rateLimited: number;
  busy: number;
}

export interface LimitedTenant {
  tenant: string;
  /** The tenant's region as its token named it; absent for `(other)`, which may mix regions. */
  region: string | undefined;
  rateLimited: number;
  busy: number;
  lastAt: string;
}

/** The status page's window (recent.ts passes its own bucket width and count). */
export class LimitedTenants {
  private readonly rings = new Map<string, { slots: Slot[]; last: number; region: string | undefined }>();
  private readonly step: number;

  constructor(
    private readonly now: () => number,
    bucketSeconds: number,
    private readonly buckets: number,
  ) {
    this.step = bucketSeconds * 1000;
  }

  record(tenant: string, region: string | undefined, code: 'rate_limited' | 'tenant_busy'): void {
    const t = this.now();
    const ring = this.ringFor(tenant, t);
    ring.region = ring === this.rings.get(OTHER_TENANTS) ? undefined : region;
    const start = Math.floor(t / this.step) * this.step;
    const slot = ring.slots[(start / this.step) % this.buckets]!;
    if (slot.start !== start) Object.assign(slot, { start, rateLimited: 0, busy: 0 });
    if (code === 'rate_limited') slot.rateLimited++;
    else slot.busy++;
    ring.last = t;
  }

  /** Tenants refused within the window, most refused first. */
  list(): LimitedTenant[] {
    const oldest = Math.floor(this.now() / this.step) * this.step - (this.buckets - 1) * this.step;
    const out: LimitedTenant[] = [];
    for (const [tenant, ring] of this.rings) {
      let rateLimited = 0;
      let busy = 0;
      for (const s of ring.slots) {
        if (s.start >= oldest) {
          rateLimited += s.rateLimited;
          busy += s.busy;
        }
      }
      if (rateLimited + busy > 0) out.push({ tenant, region: ring.region, rateLimited, busy, lastAt: new Date(ring.last).toISOString() });
    }
    return out.sort((a, b) => b.rateLimited + b.busy - (a.rateLimited + a.busy));
  }

  private ringFor(tenant: string, t: number): { slots: Slot[]; last: number; region: string | undefined } {
    const known = this.rings.get(tenant);
    if (known) return known;
    if (this.rings.size - (this.rings.has(OTHER_TENANTS) ? 1 : 0) >= MAX_LIMITED_TENANTS - 1) {
      // Make room by forgetting a tenant whose last refusal left the window; else fold into `other`.
      const windowMs = this.buckets * this.step;
      const stale = [...this.rings].find(([name, r]) => name !== OTHER_TENANTS && t - r.last >= windowMs)?.[0];
      if (stale === undefined) return this.rings.get(OTHER_TENANTS) ?? this.add(OTHER_TENANTS);
      this.rings.delete(stale);
    }
    return this.add(tenant);
  }

  private add(tenant: string): { slots: Slot[]; last: number; region: string | undefined } {
    const ring = { slots: Array.from({ length: this.buckets }, () => ({ start: 0, rateLimited: 0, busy: 0 })), last: 0, region: undefined as string | undefined };
    this.rings.set(tenant, ring);
    return ring;
  }
}
