/**
 * The client's address as the platform reports it: `CF-Connecting-IP`, which Cloudflare sets
 * on every request and a client cannot forge (a client-sent one is overwritten at the edge).
 * Forwarding headers a client sends (`X-Forwarded-For`, `X-Real-IP`, ...) are never read.
 * Outside Cloudflare (tests calling the app directly) the header may be absent: then ''.
 */
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const IPV6 = /^[0-9A-Fa-f:.]{2,45}$/;

export function clientAddress(headers: Headers): string {
  const v = headers.get('cf-connecting-ip')?.trim() ?? '';
  return IPV4.test(v) || (v.includes(':') && IPV6.test(v)) ? v : '';
}
