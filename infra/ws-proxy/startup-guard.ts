/**
 * Pins a proxied Postgres connection to one database name. The proxy's TCP
 * target is fixed, but on a real PostgreSQL server that target hosts every
 * world's databases; the client names the one it wants in its StartupMessage.
 * This reads the client's first bytes (SSLRequest/GSSENCRequest pass through)
 * up to the StartupMessage and refuses any other database, then steps aside.
 */
const PROTOCOL_3 = 196608;

export type GuardResult = { verdict: 'pending' } | { verdict: 'pass'; bytes: Buffer } | { verdict: 'reject'; reason: string };

export function startupGuard(database: string) {
  let buf: Buffer = Buffer.alloc(0);
  let decided = false;
  return (chunk: Buffer): GuardResult => {
    if (decided) return { verdict: 'pass', bytes: chunk };
    buf = Buffer.concat([buf, chunk]);
    let offset = 0;
    while (buf.length - offset >= 8) {
      const len = buf.readInt32BE(offset);
      if (len < 8 || len > 10_000) return { verdict: 'reject', reason: 'malformed startup' };
      if (buf.length - offset < len) break;
      const code = buf.readInt32BE(offset + 4);
      if (code !== PROTOCOL_3) {
        // SSLRequest, GSSENCRequest, CancelRequest: fixed-size, carry no database.
        offset += len;
        continue;
      }
      // StartupMessage: protocol, then NUL-terminated key/value pairs.
      const fields = buf.subarray(offset + 8, offset + len).toString('utf8').split('\0');
      const params: Record<string, string> = {};
      for (let i = 0; i + 1 < fields.length && fields[i]; i += 2) params[fields[i]!] = fields[i + 1]!;
      const wanted = params.database ?? params.user; // Postgres defaults database to user
      if (wanted !== database) return { verdict: 'reject', reason: `database ${JSON.stringify(wanted)} is not served here` };
      decided = true;
      const bytes = buf;
      buf = Buffer.alloc(0);
      return { verdict: 'pass', bytes };
    }
    return { verdict: 'pending' };
  };
}
