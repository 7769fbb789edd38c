/**
 * Login and signup abuse: rate-limited per client IP (CF-Connecting-IP; token exchange, refresh
 * and logout share that budget) and per account (the body's email, case-insensitive), with the Workers Rate Limiting binding that miniflare runs for
 * real here. Over a limit → 429 rate_limited with Retry-After, and the central region never sees
 * the request. Limits come from wrangler.toml [[ratelimits]]: 30 per IP, 10 per account, per 60 s.
 *
 * The binding counts in fixed 60 s windows aligned to the wall clock. A run that straddles a
 * window boundary would see its counter reset mid-way, so each scenario checks that it started and
 * ended in the same window and otherwise runs again with fresh keys (no timing assertions).
 */
import { describe, expect, it } from 'vitest';
import { ORIGINS, originRequests } from '../helpers.ts';
import { expectRejected, gatewayWith, req, send, uniqueName } from './support.ts';

const IP_LIMIT = 30;
const ACCOUNT_LIMIT = 10;
const PERIOD_SECONDS = 60;
const CENTRAL = ORIGINS.central!;
const gw = gatewayWith();

const windowOf = () => Math.floor(Date.now() / (PERIOD_SECONDS * 1000));
const randomIp = () => `198.51.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}-${crypto.randomUUID().slice(0, 6)}`;

async function inOneWindow(scenario: () => Promise<void>): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const start = windowOf();
    await scenario().catch((err) => {
      if (windowOf() === start) throw err;
    });
    if (windowOf() === start) return;
  }
  throw new Error('could not run within one rate-limit window three times');
}

function auth(path: '/auth/login' | '/auth/signup', ip: string, email: string, rid: string): Request {
  const body = path === '/auth/login' ? { email, password: 'correct horse' } : { email, password: 'correct horse', workspace: 'w', region: 'eu-central-1' };
  return req(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'cf-connecting-ip': ip, 'x-request-id': rid },
    body: JSON.stringify(body),
  });
}

async function centralSaw(rid: string): Promise<number> {
  return (await originRequests('central')).filter((r) => r.headers['x-client-request-id'] === rid).length;
}

describe('per client IP (login and signup share the budget)', () => {
  it(`the ${IP_LIMIT + 1}th attempt from one IP within a window → 429 with Retry-After; central never sees it`, async () => {
    await inOneWindow(async () => {
      const ip = randomIp();
      const rid = uniqueName('ip');
      for (let i = 0; i < IP_LIMIT; i++) {
        const path = i % 2 === 0 ? '/auth/login' : '/auth/signup';
        // A different account each time, so only the IP limit can trigger.
        const { res } = await send(gw, auth(path, ip, `user${i}-${rid}@example.com`, `${rid}-${i}`), [CENTRAL]);
        expect(res.status, `attempt ${i + 1}`).toBe(200);
      }
      const out = await send(gw, auth('/auth/login', ip, `last-${rid}@example.com`, `${rid}-last`));
      expectRejected(out, { status: 429, code: 'rate_limited', secrets: [ip, `last-${rid}@example.com`] });
      expect(out.res.headers.get('retry-after')).toBe(String(PERIOD_SECONDS));
      expect(await centralSaw(`${rid}-last`)).toBe(0);
      expect(await centralSaw(`${rid}-0`)).toBe(1);
      // Another IP is unaffected.
      expect((await send(gw, auth('/auth/login', randomIp(), `other-${rid}@example.com`, `${rid}-other`), [CENTRAL])).res.status).toBe(200);
    });
  });

  it('X-Forwarded-For is not the client IP: rotating it does not reset the budget', async () => {
    await inOneWindow(async () => {
      const ip = randomIp();
      const rid = uniqueName('xff');
      let limited = 0;
      for (let i = 0; i < IP_LIMIT + 5; i++) {
        const r = auth('/auth/login', ip, `u${i}-${rid}@example.com`, `${rid}-${i}`);
        r.headers.set('x-forwarded-for', `203.0.113.${i}`);
        const { res } = await send(gw, r, [CENTRAL]);
        if (res.status === 429) limited++;
      }
      expect(limited).toBe(5);
    });
  });
});

describe('sessions share the per-IP budget: /auth/token, /auth/refresh, /auth/logout', () => {
  it(`${IP_LIMIT} session calls from one IP use up its budget; the next one, and a login, → 429 and central never sees them`, async () => {
    await inOneWindow(async () => {
      const ip = randomIp();
      const rid = uniqueName('sess');
      const paths = ['/auth/token', '/auth/refresh', '/auth/logout'] as const;
      const call = (path: string, id: string) =>
        req(path, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'cf-connecting-ip': ip, 'x-request-id': id },
          body: path === '/auth/token' ? '' : JSON.stringify({ refresh_token: `rt_${id}` }),
        });
      for (let i = 0; i < IP_LIMIT; i++) {
        const { res } = await send(gw, call(paths[i % paths.length]!, `${rid}-${i}`), [CENTRAL]);
        expect(res.status, `attempt ${i + 1}`).toBe(200);
      }
      for (const path of [...paths, '/auth/login']) {
        const out = await send(gw, path === '/auth/login' ? auth('/auth/login', ip, `s-${rid}@example.com`, `${rid}-${path}`) : call(path, `${rid}-${path}`));
        expectRejected(out, { status: 429, code: 'rate_limited', secrets: [ip] });
        expect(await centralSaw(`${rid}-${path}`)).toBe(0);
      }
    });
  });
});

describe('per account, whichever IP it comes from', () => {
  it(`the ${ACCOUNT_LIMIT + 1}th attempt on one account → 429, email case and padding do not make a new account`, async () => {
    await inOneWindow(async () => {
      const rid = uniqueName('acct');
      const email = `victim-${rid}@example.com`;
      const spellings = [email, email.toUpperCase(), ` ${email} `, `Victim-${rid}@Example.COM`];
      for (let i = 0; i < ACCOUNT_LIMIT; i++) {
        const { res } = await send(gw, auth('/auth/login', randomIp(), spellings[i % spellings.length]!, `${rid}-${i}`), [CENTRAL]);
        expect(res.status, `attempt ${i + 1}`).toBe(200);
      }
      for (const path of ['/auth/login', '/auth/signup'] as const) {
        const out = await send(gw, auth(path, randomIp(), spellings[1]!, `${rid}-${path}`));
        expectRejected(out, { status: 429, code: 'rate_limited', secrets: [email] });
        expect(out.res.headers.get('retry-after')).toBe(String(PERIOD_SECONDS));
        expect(await centralSaw(`${rid}-${path}`)).toBe(0);
      }
    });
  });

  it('the forwarded body is byte-for-byte what the client sent', async () => {
    const body = JSON.stringify({ email: `bytes-${uniqueName('b')}@example.com`, password: 'pässword "quoted" \\ slash', extra: [1, 2] });
    const { res, text } = await send(
      gw,
      req('/auth/login', { method: 'POST', headers: { 'content-type': 'application/json', 'cf-connecting-ip': randomIp() }, body }),
      [CENTRAL],
    );
    expect(res.status).toBe(200);
    expect(JSON.parse(text).body).toBe(body);
  });

  it('an oversized auth body → 413 without reaching central', async () => {
    const out = await send(
      gw,
      req('/auth/login', { method: 'POST', headers: { 'cf-connecting-ip': randomIp() }, body: JSON.stringify({ email: 'x@example.com', password: 'p'.repeat(20_000) }) }),
    );
    expectRejected(out, { status: 413, code: 'payload_too_large' });
  });

  it('a missing limiter binding fails closed (500 config_invalid), it does not skip limiting', async () => {
    const unbound = gatewayWith({ AUTH_IP_RATE_LIMITER: undefined });
    const out = await send(unbound, auth('/auth/login', randomIp(), 'x@example.com', uniqueName('unbound')));
    expectRejected(out, { status: 500, code: 'config_invalid' });
  });
});
