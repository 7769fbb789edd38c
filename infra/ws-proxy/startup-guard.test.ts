import { describe, expect, it } from 'vitest';
import { startupGuard } from './startup-guard.ts';

function startup(params: Record<string, string>): Buffer {
  const body = Buffer.from(Object.entries(params).map(([k, v]) => `${k}\0${v}\0`).join('') + '\0');
  const head = Buffer.alloc(8);
  head.writeInt32BE(8 + body.length, 0);
  head.writeInt32BE(196608, 4);
  return Buffer.concat([head, body]);
}
const sslRequest = () => {
  const b = Buffer.alloc(8);
  b.writeInt32BE(8, 0);
  b.writeInt32BE(80877103, 4);
  return b;
};

describe('startup guard', () => {
  it('passes a startup for its database, split across chunks, with an SSLRequest first', () => {
    const g = startupGuard('etr_1_eu');
    const msg = Buffer.concat([sslRequest(), startup({ user: 'postgres', database: 'etr_1_eu' })]);
    expect(g(msg.subarray(0, 5))).toEqual({ verdict: 'pending' });
    expect(g(msg.subarray(5, 20))).toEqual({ verdict: 'pending' });
    const r = g(msg.subarray(20));
    expect(r.verdict).toBe('pass');
    expect(Buffer.compare((r as { bytes: Buffer }).bytes, msg)).toBe(0);
    // Afterwards everything passes untouched.
    expect(g(Buffer.from('Q'))).toEqual({ verdict: 'pass', bytes: Buffer.from('Q') });
  });

  it('refuses any other database, including the user-name default', () => {
    expect(startupGuard('etr_1_eu')(startup({ user: 'postgres', database: 'etr_2_eu' })).verdict).toBe('reject');
    expect(startupGuard('etr_1_eu')(startup({ user: 'postgres' })).verdict).toBe('reject');
    expect(startupGuard('postgres')(startup({ user: 'postgres' })).verdict).toBe('pass');
  });
});
