/** Reads and checks JSON request bodies; every failure is a 400 that names the field. */
import type { Context } from 'hono';
import { MALFORMED_JSON_MESSAGE } from '../../src/errors/messages.ts';
import { invalid } from './errors.ts';

export type JsonObject = Record<string, unknown>;

/** The body as a JSON object; an empty body is {} only when allowed. */
export async function jsonObject(c: Context, { allowEmpty = false } = {}): Promise<JsonObject> {
  const text = await c.req.text();
  if (text.trim() === '' && allowEmpty) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw invalid(MALFORMED_JSON_MESSAGE);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(MALFORMED_JSON_MESSAGE);
  return value as JsonObject;
}

export interface StringRule {
  min?: number;
  max: number;
  trim?: boolean;
  pattern?: RegExp;
  /** Appended to the message when the pattern fails. */
  patternHint?: string;
}

export function requiredString(body: JsonObject, field: string, rule: StringRule): string {
  const v = body[field];
  if (v === undefined || v === null) throw invalid(`${field} is required`);
  return checkString(v, field, rule);
}

export function optionalString(body: JsonObject, field: string, rule: StringRule): string | undefined {
  const v = body[field];
  if (v === undefined) return undefined;
  return checkString(v, field, rule);
}

function checkString(v: unknown, field: string, rule: StringRule): string {
  if (typeof v !== 'string') throw invalid(`${field} must be a string`);
  const s = rule.trim ? v.trim() : v;
  const min = rule.min ?? 1;
  if (s.length < min) throw invalid(min === 1 ? `${field} must not be empty` : `${field} must be at least ${min} characters`);
  if (s.length > rule.max) throw invalid(`${field} must be at most ${rule.max} characters`);
  if (rule.pattern && !rule.pattern.test(s)) throw invalid(`${field} ${rule.patternHint ?? 'is not valid'}`);
  return s;
}
