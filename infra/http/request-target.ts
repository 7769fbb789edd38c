/** The request target exactly as it arrived (what the gateway signed), else as parsed. */
export function requestTarget(url: string, env: unknown): string {
  const raw = (env as { incoming?: { url?: string } } | undefined)?.incoming?.url;
  if (raw && raw.startsWith('/')) return raw;
  const u = new URL(url);
  return u.pathname + u.search;
}
