/**
 * SQL text is only ever a literal in this repository's source. `sql` is a tag
 * that accepts a template WITHOUT substitutions and returns a branded object;
 * the driver refuses anything else. So request data can only reach the
 * database as a bound parameter ($1, $2, ...), never as SQL text.
 * (test/static/sql-literals.test.ts checks the same statically over src/query.)
 */
const issued = new WeakSet<SqlText>();

export interface SqlText {
  readonly text: string;
  /** Highest $n placeholder in the text. */
  readonly paramCount: number;
}

function maxPlaceholder(text: string): number {
  let max = 0;
  for (const m of text.matchAll(/\$(\d+)/g)) max = Math.max(max, Number(m[1]));
  return max;
}

export function sql(strings: TemplateStringsArray, ...substitutions: never[]): SqlText {
  // A real template object is frozen and has a frozen `raw`; substitutions would be request data.
  if (substitutions.length > 0 || strings.length !== 1 || !Object.isFrozen(strings) || !Array.isArray(strings.raw) || !Object.isFrozen(strings.raw)) {
    throw new TypeError('sql`...` takes a literal without substitutions; pass values as $n parameters');
  }
  const text = strings[0]!;
  const stmt = Object.freeze({ text, paramCount: maxPlaceholder(text) });
  issued.add(stmt);
  return stmt;
}

/** True only for statements made by the `sql` tag (the driver's runtime guard). */
export function isSqlText(v: unknown): v is SqlText {
  return typeof v === 'object' && v !== null && issued.has(v as SqlText);
}
