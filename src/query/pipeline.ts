/**
 * Sends a whole transaction to Postgres in ONE network flight: every statement's
 * Parse/Bind/(Describe)/Execute messages back to back and a single Sync, using the
 * extended protocol (parameters stay parameters). Postgres runs them in order and,
 * after an error, skips everything up to the Sync, so a failed transaction never
 * half-runs. With the driver's pipelined connect (startup + password + first query
 * in one write) a cold request is one round trip after the WebSocket opens.
 *
 * This is a pg "submittable" (the same interface pg-cursor uses), which the
 * @neondatabase/serverless Client (a pg Client over a WebSocket) accepts in query().
 */
import type { SqlText } from './sql.ts';

export type Value = string | null;

export interface Step {
  readonly sql: SqlText;
  readonly values: readonly Value[];
  /** Describe the portal so rows come back with names and types; off for statements whose rows we ignore. */
  readonly rows: boolean;
}

export interface Field {
  readonly name: string;
  readonly dataTypeID: number;
}

export interface StepResult {
  rows: Array<Record<string, unknown>>;
  rowCount: number;
}

/** The parts of pg's Connection a submittable writes to. */
interface Connection {
  parse(q: { text: string; name?: string; types?: number[] }): void;
  bind(c: { portal?: string; statement?: string; values: readonly Value[] }): void;
  describe(m: { type: 'P' | 'S'; name?: string }): void;
  execute(c: { portal?: string; rows?: number }): void;
  sync(): void;
}

// Postgres type OIDs we give JSON types; everything else stays text.
const BOOL = 16;
const INTS = new Set([20, 21, 23, 26]);
const FLOATS = new Set([700, 701]);
const JSONS = new Set([114, 3802]);
const TIMESTAMPTZ = 1184;

/** '2026-11-21 05:10:39.123456+00' (DateStyle ISO) → '2026-11-21T05:10:39.123456+00:00'. */
function isoTimestamp(v: string): string {
  const m = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d+)?)([+-]\d{2})(?::?(\d{2}))?$/.exec(v);
  return m ? `${m[1]}T${m[2]}${m[3]}:${m[4] ?? '00'}` : v;
}

function convert(v: string | null, oid: number): unknown {
  if (v === null) return null;
  if (oid === BOOL) return v === 't';
  if (INTS.has(oid) || FLOATS.has(oid)) return Number(v);
  if (JSONS.has(oid)) return JSON.parse(v);
  if (oid === TIMESTAMPTZ) {
    // Same form as the regional app's API (toISOString, UTC 'Z', milliseconds).
    const d = new Date(isoTimestamp(v));
    return Number.isNaN(d.getTime()) ? v : d.toISOString();
  }
  return v;
}

export class Pipeline {
  readonly results: StepResult[];
  #index = 0;
  #fields: Field[] | null = null;
  #settled = false;
  readonly done: Promise<StepResult[]>;
  /** pg wraps this to clear its query_timeout timer; called once when the pipeline settles. */
  callback: (err: unknown, res?: unknown) => void = () => {};
  #resolve!: (r: StepResult[]) => void;
  #reject!: (e: unknown) => void;

  constructor(readonly steps: readonly Step[]) {
    this.results = steps.map(() => ({ rows: [], rowCount: 0 }));
    this.done = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  /** Called by the client when it is its turn: everything goes out in one write (the socket coalesces). */
  submit(connection: Connection): null {
    for (const step of this.steps) {
      connection.parse({ text: step.sql.text, types: [] });
      connection.bind({ values: step.values });
      if (step.rows) connection.describe({ type: 'P' });
      connection.execute({});
    }
    connection.sync();
    return null;
  }

  handleRowDescription(msg: { fields: Field[] }): void {
    this.#fields = msg.fields;
  }

  handleDataRow(msg: { fields: Array<string | null> }): void {
    const fields = this.#fields;
    const result = this.results[this.#index];
    if (!fields || !result) return; // a step whose rows we did not ask for
    const row: Record<string, unknown> = {};
    fields.forEach((f, i) => (row[f.name] = convert(msg.fields[i] ?? null, f.dataTypeID)));
    result.rows.push(row);
  }

  handleCommandComplete(msg: { rowCount?: number | null }): void {
    const result = this.results[this.#index];
    if (result) result.rowCount = msg.rowCount ?? result.rows.length;
    this.#index++;
    this.#fields = null;
  }

  handleEmptyQuery(): void {
    this.#index++;
    this.#fields = null;
  }

  handleError(err: unknown): void {
    if (this.#settled) return;
    this.#settled = true;
    this.callback(err);
    this.#reject(err);
  }

  handleReadyForQuery(): void {
    if (this.#settled) return;
    if (this.#index !== this.steps.length) return this.handleError(new Error(`pipeline ended after ${this.#index} of ${this.steps.length} statements`));
    this.#settled = true;
    this.callback(null, this.results);
    this.#resolve(this.results);
  }

  // Never produced by our statements; fail closed if they are.
  handlePortalSuspended(): void {
    this.handleError(new Error('unexpected PortalSuspended'));
  }
  handleCopyInResponse(): void {
    this.handleError(new Error('unexpected COPY'));
  }
  handleCopyData(): void {}
}
