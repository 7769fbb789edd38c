/** Origins in the config (regions, central, browser origins): one rule for what an origin is. */
import { z } from 'zod';

export const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * An origin is scheme://host[:port] and nothing else; plain http only to loopback (the local world).
 * Stored as the URL parser serialises it (lowercase scheme and host, no default port, no trailing
 * slash), which is also the form browsers send in `Origin`.
 */
export const originUrl = z.string().transform((s, ctx) => {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be an absolute URL' });
    return z.NEVER;
  }
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && LOOPBACK_HOSTS.has(u.hostname))) {
    ctx.addIssue({ code: 'custom', message: 'must be https (plain http is allowed only for loopback hosts)' });
  }
  if (u.username || u.password) ctx.addIssue({ code: 'custom', message: 'must not carry credentials' });
  if ((u.pathname !== '/' && u.pathname !== '') || u.search || u.hash) {
    ctx.addIssue({ code: 'custom', message: 'must be an origin only (no path, query or fragment)' });
  }
  return u.origin;
});
