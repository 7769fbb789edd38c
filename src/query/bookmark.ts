/**
 * Read-your-writes across a primary and its read replica. After a write the
 * gateway returns the primary's WAL position (LSN) after COMMIT as a bookmark; a
 * read that carries one runs on the replica only if the replica has replayed at
 * least that far, otherwise it goes to the primary.
 */
import { GatewayError } from '../errors/index.ts';
import { sql } from './sql.ts';

export const BOOKMARK_HEADER = 'x-db-bookmark';
/** Which database answered: `primary`, `replica` or `standby` (failover, see execute() in index.ts). */
export const SOURCE_HEADER = 'x-db-source';

// pg_lsn text form: two hex numbers of up to 8 digits.
const LSN = /^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/;

/** After COMMIT: where the primary's WAL ends, which includes our commit record. */
export const CURRENT_LSN = sql`SELECT pg_current_wal_lsn()::text AS lsn`;
/** On the replica, inside the read transaction: has it replayed the bookmark? NULL replay LSN = not in recovery = a primary. */
export const CAUGHT_UP = sql`SELECT coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, true) AS caught_up`;

export function parseBookmark(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const v = header.trim().toUpperCase();
  if (!LSN.test(v)) throw new GatewayError('invalid_request', 'malformed bookmark', `Invalid ${BOOKMARK_HEADER} header.`);
  return v;
}
