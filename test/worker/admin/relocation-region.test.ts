/**
 * The region itself refuses a tenant that does not live there, on the direct path (/data),
 * inside the query's own transaction: real PostgreSQL region databases, the real `moveTenant`
 * held at each step by the control server (test/support/global-view-world.ts), and a gateway
 * WITHOUT a relocation list (no CONTROL_PLANE_DATABASE_URL), i.e. one that never learns of the move.
 */
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { afterEach, describe, expect, it } from 'vitest';
import { createApp } from '../../../src/app.ts';
import { edgeWithDataWorkers } from '../data-workers.ts';
import { bindings, errorBody, mintToken } from '../helpers.ts';
import { control, GLOBAL_SKIP, newTenantId } from './support.ts';

const SKIP = GLOBAL_SKIP;
if (SKIP) console.warn(`[skip] region relocation tests: ${SKIP}`);

const app = createApp();
// No control plane: the gateway's own relocation check is off, so every refusal below comes from the region.
// The edge with each region's data Worker holding that region's database (test/worker/data-workers.ts).
const env = () => edgeWithDataWorkers({ CONTROL_PLANE_DATABASE_URL: undefined, REGION_DATABASES: bindings.TEST_GLOBAL_REGION_DATABASES, DB_PIPELINE_CONNECT: 'off' });

async function data(method: 'GET' | 'POST', tenant: string, region: string): Promise<{ status: number; code?: string; retryAfter: string | null; items?: number }> {
  const tok = await mintToken({ claims: { sub: 'user-7', tenant_id: tenant, tenant_region: region } });
  const init: RequestInit =
    method === 'POST'
      ? { method, headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' }, body: JSON.stringify({ title: 'probe', body: '' }) }
      : { headers: { authorization: `Bearer ${tok}` } };
  const ctx = createExecutionContext();
  const res = await app.fetch(new Request('https://gateway.test/data/pages?limit=100', init), env(), ctx);
  await waitOnExecutionContext(ctx);
  const retryAfter = res.headers.get('retry-after');
  if (res.ok) {
    const body = (await res.json()) as { items?: unknown[] };
    return { status: res.status, retryAfter, ...(body.items ? { items: body.items.length } : {}) };
  }
  return { status: res.status, code: (await errorBody(res)).code, retryAfter };
}

const served = (items: number) => ({ status: 200, retryAfter: null, items });
const moving = { status: 503, code: 'tenant_moving', retryAfter: '1' };
const relocated = { status: 409, code: 'tenant_relocated', retryAfter: null };

describe.skipIf(!!SKIP)('the region refuses what does not live there (direct path)', () => {
  afterEach(async () => {
    await control('/move/finish', {}).catch(() => {});
  });

  it('fence: reads served, writes 503 tenant_moving with Retry-After; the new region refuses until arrival; afterwards an old token gets 409 from the old region', async () => {
    const t = newTenantId();
    await control('/seed', { tenant: t, region: 'eu-central-1', titles: ['a', 'b', 'c'] });
    expect(await data('GET', t, 'eu-central-1')).toEqual(served(3));

    await control('/move/start', { tenant: t, to: 'us-east-1', holdAt: 'fenced' });
    expect(await data('GET', t, 'eu-central-1')).toEqual(served(3));
    expect(await data('POST', t, 'eu-central-1')).toEqual(moving);
    await control('/move/finish', {});

    // Flipped (fresh tokens name us-east-1) but not yet switched: old region still reads, new region refuses.
    const back = newTenantId();
    await control('/seed', { tenant: back, region: 'us-east-1', titles: ['x', 'y'] });
    await control('/move/start', { tenant: back, to: 'ap-southeast-2', holdAt: 'flipped' });
    expect(await data('GET', back, 'us-east-1')).toEqual(served(2));
    expect(await data('POST', back, 'us-east-1')).toEqual(moving);
    expect(await data('GET', back, 'ap-southeast-2')).toEqual(moving);
    expect(await data('POST', back, 'ap-southeast-2')).toEqual(moving);
    await control('/move/finish', {});

    // Done: the old token is refused by the old region itself (this gateway has no move list at all).
    expect(await data('GET', t, 'eu-central-1')).toEqual(relocated);
    expect(await data('POST', t, 'eu-central-1')).toEqual(relocated);
    expect(await data('GET', t, 'us-east-1')).toEqual(served(3));
    expect(await data('GET', back, 'us-east-1')).toEqual(relocated);
    expect(await data('GET', back, 'ap-southeast-2')).toEqual(served(2));
    // Nothing was written anywhere by the refused writes.
    expect(await control<unknown[]>(`/pages?tenant=${t}&region=eu-central-1`)).toEqual([]);
    expect((await control<Array<{ title: string }>>(`/pages?tenant=${t}&region=us-east-1`)).map((p) => p.title).sort()).toEqual(['a', 'b', 'c']);
  });

  it('between the switch and the arrival: 409 in the old region, 503 in the new one, never an empty list', async () => {
    const t = newTenantId();
    await control('/seed', { tenant: t, region: 'ap-southeast-2', titles: ['one'] });
    await control('/move/start', { tenant: t, to: 'eu-central-1', holdAt: 'switched' });
    expect(await data('GET', t, 'ap-southeast-2')).toEqual(relocated);
    expect(await data('GET', t, 'eu-central-1')).toEqual(moving);
    await control('/move/finish', {});
    expect(await data('GET', t, 'eu-central-1')).toEqual(served(1));
  });
});
