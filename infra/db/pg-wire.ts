/**
 * The few pieces of the PostgreSQL wire protocol (v3) the local servers and proxies speak: the
 * startup packet's codes, building the messages a server sends first, and splitting a byte stream
 * into messages.
 */

export const SSL_REQUEST = 80877103;
export const GSSENC_REQUEST = 80877104;
export const CANCEL_REQUEST = 80877102;
export const PROTOCOL_3 = 196608;

/** A message of `type` (one byte) with `body`: type, int32 length (itself included), body. */
export function message(type: string, body: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

/** A FATAL ErrorResponse with SQLSTATE `code`. */
export function errorResponse(code: string, text: string): Buffer {
  return message('E', Buffer.concat([Buffer.from(`SFATAL\0VFATAL\0C${code}\0M${text}\0`, 'utf8'), Buffer.from([0])]));
}

export const AUTHENTICATION_OK = message('R', Buffer.from([0, 0, 0, 0]));

export const readyForQuery = (status: 'I' | 'T' | 'E') => message('Z', Buffer.from(status, 'latin1'));

/** A simple-protocol Query message. */
export const query = (sql: string) => message('Q', Buffer.concat([Buffer.from(sql, 'utf8'), Buffer.from([0])]));

/** One whole message: its type and all its bytes (type and length included). */
export interface WireMessage {
  type: string;
  bytes: Buffer;
}

/**
 * Splits a stream of typed messages (everything after the startup packet) into whole messages.
 * A length under 4 or over `maxLength` is a broken stream: `push` throws.
 */
export class MessageReader {
  #buf: Buffer = Buffer.alloc(0);
  readonly #maxLength: number;

  constructor(maxLength = 64 * 1024 * 1024) {
    this.#maxLength = maxLength;
  }

  push(chunk: Buffer): WireMessage[] {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk;
    const out: WireMessage[] = [];
    let at = 0;
    while (this.#buf.length - at >= 5) {
      const len = this.#buf.readInt32BE(at + 1);
      if (len < 4 || len > this.#maxLength) throw new Error(`broken message stream: length ${len}`);
      if (this.#buf.length - at < 1 + len) break;
      out.push({ type: String.fromCharCode(this.#buf[at]!), bytes: this.#buf.subarray(at, at + 1 + len) });
      at += 1 + len;
    }
    this.#buf = this.#buf.subarray(at);
    return out;
  }

  /** Bytes of a message not yet whole. */
  get partial(): number {
    return this.#buf.length;
  }
}

/** The startup packet at the start of `buf` once it is all there: its length, code and (for a StartupMessage) parameters. */
export function readStartupPacket(buf: Buffer, maxLength = 10_000): { length: number; code: number; params: Record<string, string> } | 'incomplete' | 'malformed' {
  if (buf.length < 8) return 'incomplete';
  const length = buf.readInt32BE(0);
  if (length < 8 || length > maxLength) return 'malformed';
  if (buf.length < length) return 'incomplete';
  const code = buf.readInt32BE(4);
  const params: Record<string, string> = {};
  if (code === PROTOCOL_3) {
    const fields = buf.subarray(8, length).toString('utf8').split('\0');
    for (let i = 0; i + 1 < fields.length && fields[i]; i += 2) params[fields[i]!] = fields[i + 1]!;
  }
  return { length, code, params };
}
