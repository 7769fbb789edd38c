/**
 * Opaque pagination cursors. Today a cursor wraps the last page id of a
 * newest-first list (UUIDv7 ids are time-ordered); clients must treat it as
 * opaque so the encoding can change. Versioned so old cursors fail cleanly (400).
 */
import { z } from 'zod';

const PREFIX = 'c1.';
export const MAX_CURSOR_CHARS = 128;

export function encodeCursor(id: string): string {
  const b64 = btoa(id).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  return PREFIX + b64;
}

function decode(c: string): string | null {
  if (!c.startsWith(PREFIX)) return null;
  const b64 = c.slice(PREFIX.length).replace(/-/g, '+').replace(/_/g, '/');
  try {
    return atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  } catch {
    return null;
  }
}

/** A query-string cursor: decodes to the id it stands for, or fails validation. */
export const cursorSchema = z
  .string()
  .max(MAX_CURSOR_CHARS)
  .transform((c, ctx) => {
    const id = decode(c);
    if (id === null) {
      ctx.addIssue({ code: 'custom', message: 'is not a cursor this API issued' });
      return z.NEVER;
    }
    return id;
  })
  .pipe(z.uuid({ message: 'is not a cursor this API issued' }));
