import { describe, expect, it } from 'vitest';
import { hashPassword, needsRehash, PASSWORD_COSTS, verifyPassword } from './passwords.ts';

const DEV = PASSWORD_COSTS.development;

describe('passwords', () => {
  it('stores a salted, self-describing scrypt hash, never the password; OWASP cost by default', async () => {
    const a = await hashPassword('correct horse battery', DEV);
    const b = await hashPassword('correct horse battery', DEV);
    expect(a).toMatch(/^scrypt\$16384\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(a).not.toContain('correct horse');
    expect(a).not.toBe(b); // random salt
    expect(await hashPassword('x')).toMatch(/^scrypt\$131072\$8\$1\$/);
  });

  it('verifies the right password and rejects others and malformed or absurd hashes', async () => {
    const h = await hashPassword('correct horse battery', DEV);
    expect(await verifyPassword('correct horse battery', h)).toBe(true);
    expect(await verifyPassword('correct horse batterY', h)).toBe(false);
    expect(await verifyPassword('x', 'plain-text')).toBe(false);
    expect(await verifyPassword('x', 'scrypt$0$8$1$abc$def')).toBe(false);
    // A stored N that would take gigabytes is refused, not attempted.
    expect(await verifyPassword('x', h.replace('$16384$', `$${2 ** 21}$`))).toBe(false);
  });

  it('needsRehash: below the configured cost, or unreadable', async () => {
    const h = await hashPassword('p', DEV);
    expect(needsRehash(h, DEV)).toBe(false);
    expect(needsRehash(h, PASSWORD_COSTS.owasp)).toBe(true);
    expect(needsRehash(h.replace('$16384$', '$131072$'), PASSWORD_COSTS.owasp)).toBe(false);
    expect(needsRehash('garbage', DEV)).toBe(true);
  });
});
