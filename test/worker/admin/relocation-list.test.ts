/**
 * The per-isolate relocation list's refresh rules, against the real control
 * plane (a real move between reads), with the clock injected so no test waits:
 * fresh → no query; up to two intervals old → background refresh, current list
 * serves; older (idle isolate) → the request waits for the refresh.
 */
import { describe, expect, it } from 'vitest';
import { RelocationList } from '../../../src/relocation/index.ts';
import { bindings } from '../helpers.ts';
import { control, GLOBAL_SKIP, newTenantId } from './support.ts';

const SKIP = GLOBAL_SKIP;
if (SKIP) console.warn(`[skip] relocation list tests: ${SKIP}`);
const EP = { url: bindings.TEST_CONTROL_PLANE_DATABASE_URL!, wsProxy: bindings.TEST_DB_WS_PROXY };
const REFRESH_MS = 10_000;


async function movedTenant(): Promise<string> {
  const t = newTenantId();
  await control('/seed', { tenant: t, region: 'eu-central-1', titles: ['p'] });
  return t;
}

function listAt(start: number) {
  const clock = { t: start };
  const list = new RelocationList(EP, REFRESH_MS, 86_400, () => clock.t);
  const pending: Array<Promise<void>> = [];
  const ready = () => list.ready((p) => pending.push(p));
  return { list, clock, pending, ready };
}

describe.skipIf(!!SKIP)('relocation list refresh', () => {
  it('serves the current list while a busy isolate refreshes in the background', async () => {
    const t = await movedTenant();
    const { list, clock, pending, ready } = listAt(1_000_000);
    await ready(); // first load: awaited
    expect(pending).toHaveLength(0);
    await control('/move', { tenant: t, to: 'us-east-1' });

    clock.t += REFRESH_MS - 1;
    await ready(); // still fresh: no query
    expect(pending).toHaveLength(0);
    expect(list.movedAway(t, 'eu-central-1')).toBeUndefined();

    clock.t += 2; // one interval old: background refresh, this request uses the current list
    await ready();
    expect(pending).toHaveLength(1);
    expect(list.movedAway(t, 'eu-central-1')).toBeUndefined();
    await pending[0];
    expect(list.movedAway(t, 'eu-central-1')).toBe('us-east-1');
    expect(list.movedAway(t, 'us-east-1')).toBeUndefined();
  });

  it('makes the first request of an idle isolate wait for the refresh', async () => {
    const t = await movedTenant();
    const { list, clock, pending, ready } = listAt(5_000_000);
    await ready();
    await control('/move', { tenant: t, to: 'ap-southeast-2' });
    clock.t += 2 * REFRESH_MS; // idle for two intervals
    await ready();
    expect(pending).toHaveLength(0);
    expect(list.movedAway(t, 'eu-central-1')).toBe('ap-southeast-2');
  });

  it('keeps the last list when the control plane cannot be read, and retries later instead of on every request', async () => {
    const broken = new URL(EP.url);
    broken.pathname = '/no_such_database_here';
    const clock = { t: 0 };
    const list = new RelocationList({ ...EP, url: broken.toString() }, REFRESH_MS, 86_400, () => clock.t);
    const pending: Array<Promise<void>> = [];
    await list.ready((p) => pending.push(p)); // first load fails: fail open
    expect(list.movedAway('ws_anything', 'eu-central-1')).toBeUndefined();
    clock.t += 1000;
    await list.ready((p) => pending.push(p)); // within the retry delay: no new attempt
    expect(pending).toHaveLength(0);
  });
});
