/**
 * Pins a proxied Postgres connection to one database name. The proxy's TCP
 * target is fixed, but on a real PostgreSQL server that target hosts every
 * world's databases; the client names the one it wants in its StartupMessage.
 * This reads the client's first bytes (SSLRequest/GSSENCRequest pass through)
 * up to the StartupMessage and refuses any other database, then steps aside.
 */

import { PROTOCOL_3, readStartupPacket } from '../db/pg-wire.ts';

export type GuardResult = { verdict: 'pending' } | { verdict: 'pass'; bytes: Buffer } | { verdict: 'reject'; reason: string };

export function startupGuard(database: string) {
  let buf: Buffer = Buffer.alloc(0);
  let decided = false;
  return (chunk: Buffer): GuardResult => {
    if (decided) return { verdict: 'pass', bytes: chunk };
    buf = Buffer.concat([buf, chunk]);
    let offset = 0;
    for (;;) {
      const packet = readStartupPacket(buf.subarray(offset));
      if (packet === 'incomplete') break;
      if (packet === 'malformed') return { verdict: 'reject', reason: 'malformed startup' };
      if (packet.code !== PROTOCOL_3) {
        // SSLRequest, GSSENCRequest, CancelRequest: fixed-size, carry no database.
        offset += packet.length;
        continue;
      }
      const wanted = packet.params.database ?? packet.params.user; // Postgres defaults database to user
      if (wanted !== database) return { verdict: 'reject', reason: `database ${JSON.stringify(wanted)} is not served here` };
      decided = true;
      const bytes = buf;
      buf = Buffer.alloc(0);
      return { verdict: 'pass', bytes };
    }
    return { verdict: 'pending' };
  };
}
