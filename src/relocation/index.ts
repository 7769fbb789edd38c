/**
 * Tenants that moved region (`npm run tenant:move`) keep old tokens for up to
 * their lifetime, and those tokens name the OLD region. The gateway must not
 * send them there: it answers 409 tenant_relocated and the client gets a fresh
 * token from central (which now says the new region). It does not re-route to
 * the new home itself: the token's region claim is what central vouched for,
 * and a token the gateway has to reinterpret is one it no longer checks.
 *
 * Cost: per isolate, the recent moves (control plane `tenant_relocations`,
 * younger than RELOCATION_WINDOW_SECONDS, newest per tenant) are held in a Map
 * and refreshed every RELOCATION_REFRESH_SECONDS. A request does one Map lookup;
 * an unmoved tenant costs nothing else. The first request of an isolate waits
 * for the first load; a busy isolate refreshes in the background while the
 * previous list keeps serving; an idle one (list older than two intervals)
 * waits for the refresh on its next request. So no request is answered from a
 * list older than two intervals. If the control plane cannot be read the last
 * list stays in force (fail open, logged, retried after 5 s): the old region is
 * still safe, because a move leaves a tombstone there and the region itself
 * answers a stale token with 409 (region-refusal.ts, infra/sql/region/004).
 */
import type { DbEndpoint } from '../config/index.ts';
import { inTransaction } from '../control-db/index.ts';
import { GatewayError } from '../errors/index.ts';

/** Upper bound on moves held in memory; moves are rare, this is a guard. */
export const MAX_RELOCATIONS = 10_000;
const LOAD_STATEMENT_TIMEOUT_MS = 2000;
const RETRY_AFTER_FAILURE_MS = 5000;

export class RelocationList {
  #homes = new Map<string, string>();
  #loadedAt = -Infinity;
  #loading: Promise<void> | undefined;
  #everLoaded = false;

  constructor(
    private readonly ep: DbEndpoint,
    private readonly refreshMs: number,
    private readonly windowSeconds: number,
    /** Injectable for tests of the refresh rules. */
    private readonly now: () => number = Date.now,
  ) {}

  async #load(): Promise<void> {
    try {
      const rows = await inTransaction(this.ep, { readOnly: true, statementTimeoutMs: LOAD_STATEMENT_TIMEOUT_MS }, (q) =>
        q<{ tenant_id: string; to_region: string }>(
          `SELECT DISTINCT ON (tenant_id) tenant_id, to_region FROM tenant_relocations
           WHERE moved_at > now() - make_interval(secs => $1) ORDER BY tenant_id, moved_at DESC, id DESC LIMIT $2`,
          [this.windowSeconds, MAX_RELOCATIONS],
        ),
      );
      if (rows.length >= MAX_RELOCATIONS) {
        // Beyond the cap some moved tenants are not checked here (their old region still refuses them): say so loudly.
        console.error(JSON.stringify({ level: 'error', msg: 'relocations_truncated', limit: MAX_RELOCATIONS }));
      }
      this.#homes = new Map(rows.map((r) => [r.tenant_id, r.to_region]));
      this.#everLoaded = true;
      this.#loadedAt = this.now();
    } catch (err) {
      // Keep the last list and retry soon (not on every request: each attempt may wait for a connect timeout).
      this.#loadedAt = this.now() - this.refreshMs + Math.min(this.refreshMs, RETRY_AFTER_FAILURE_MS);
      console.error(JSON.stringify({ level: 'error', msg: 'relocations_unavailable', detail: (err as GatewayError).detail ?? String(err) }));
    } finally {
      this.#loading = undefined;
    }
  }

  /**
   * Resolves when the list is usable. Fresh (younger than one interval): nothing to do. Up to two
   * intervals old: refresh in the background (`background` receives it) and use the current list.
   * Older (an isolate that sat idle) or never loaded: wait for the refresh, so no request is
   * answered from a list older than two intervals while the control plane answers.
   */
  async ready(background: (p: Promise<void>) => void): Promise<void> {
    const age = this.now() - this.#loadedAt;
    if (age < this.refreshMs) return;
    const p = (this.#loading ??= this.#load());
    if (this.#everLoaded && age < 2 * this.refreshMs) background(p);
    else await p;
  }

  /** The tenant's current home if it moved recently and the claim names another region. */
  movedAway(tenantId: string, claimedRegion: string): string | undefined {
    const home = this.#homes.get(tenantId);
    return home !== undefined && home !== claimedRegion ? home : undefined;
  }
}

export async function checkRelocation(
  list: RelocationList | undefined,
  tenantId: string,
  region: string,
  background: (p: Promise<void>) => void,
): Promise<void> {
  if (!list) return;
  await list.ready(background);
  if (list.movedAway(tenantId, region)) {
    throw new GatewayError('tenant_relocated', `tenant moved from the token's region`);
  }
}
