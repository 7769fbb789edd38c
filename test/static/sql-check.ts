/**
 * Static check: in the direct data path (src/query), SQL text is only ever a
 * substitution-free `sql`-tagged literal, so no request data can become SQL.
 * Reports, per file, every construct that could build SQL at run time:
 *  - a `sql` tag with substitutions, or `sql(...)` called as a function;
 *  - a template with substitutions, or a `+` concatenation, whose text looks like SQL;
 *  - a route's `sql:` that is not a `sql` literal;
 *  - text handed to the wire (`parse({ text })`, `.query(...)`) that is not `<step>.sql.text` / a pipeline.
 */
import ts from 'typescript';

const SQLISH = /\b(SELECT|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|WHERE|VALUES|ORDER\s+BY|set_config|BEGIN|COMMIT)\b/i;

export interface Finding {
  file: string;
  line: number;
  rule: string;
}

function literalText(n: ts.Node): string {
  if (ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n)) return n.text;
  if (ts.isTemplateExpression(n)) return n.head.text + n.templateSpans.map((s) => s.literal.text).join(' ');
  if (ts.isBinaryExpression(n) && n.operatorToken.kind === ts.SyntaxKind.PlusToken) return literalText(n.left) + ' ' + literalText(n.right);
  if (ts.isParenthesizedExpression(n)) return literalText(n.expression);
  if (ts.isArrayLiteralExpression(n)) return n.elements.map(literalText).join(' ');
  return '';
}

export function checkSource(file: string, source: string): Finding[] {
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out: Finding[] = [];
  const report = (n: ts.Node, rule: string) => out.push({ file, line: sf.getLineAndCharacterOfPosition(n.getStart()).line + 1, rule });
  const isSqlTag = (n: ts.Node) => ts.isIdentifier(n) && n.text === 'sql';

  const visit = (n: ts.Node): void => {
    if (ts.isTaggedTemplateExpression(n) && isSqlTag(n.tag) && !ts.isNoSubstitutionTemplateLiteral(n.template)) {
      report(n, 'sql tag with substitutions');
    }
    if (ts.isCallExpression(n) && isSqlTag(n.expression)) report(n, 'sql called as a function');
    if (ts.isTemplateExpression(n) && !(n.parent && ts.isTaggedTemplateExpression(n.parent)) && SQLISH.test(literalText(n))) {
      report(n, 'SQL-looking template with substitutions');
    }
    if (ts.isBinaryExpression(n) && (n.operatorToken.kind === ts.SyntaxKind.PlusToken || n.operatorToken.kind === ts.SyntaxKind.PlusEqualsToken)) {
      if (SQLISH.test(literalText(n.left) + ' ' + literalText(n.right))) report(n, 'SQL-looking string concatenation');
    }
    if (ts.isCallExpression(n) && ts.isPropertyAccessExpression(n.expression) && ['concat', 'join', 'replace', 'replaceAll'].includes(n.expression.name.text)) {
      if (SQLISH.test(literalText(n.expression.expression)) || n.arguments.some((a) => SQLISH.test(literalText(a)))) report(n, 'SQL-looking string built by a call');
    }
    if (ts.isPropertyAssignment(n) && ts.isIdentifier(n.name) && n.name.text === 'sql') {
      const literalOrConstant = (e: ts.Expression): boolean =>
        (ts.isTaggedTemplateExpression(e) && isSqlTag(e.tag)) ||
        ts.isIdentifier(e) ||
        ts.isPropertyAccessExpression(e) ||
        (ts.isConditionalExpression(e) && literalOrConstant(e.whenTrue) && literalOrConstant(e.whenFalse));
      if (!literalOrConstant(n.initializer)) report(n, 'sql: must be a sql`...` literal (or a constant holding one)');
    }
    if (ts.isPropertyAssignment(n) && ts.isIdentifier(n.name) && n.name.text === 'text') {
      const init = n.initializer;
      const ok = ts.isPropertyAccessExpression(init) && init.name.text === 'text' && ts.isPropertyAccessExpression(init.expression) && init.expression.name.text === 'sql';
      if (!ok) report(n, 'wire text must be <step>.sql.text');
    }
    if (ts.isCallExpression(n) && ts.isPropertyAccessExpression(n.expression) && n.expression.name.text === 'query') {
      const first = n.arguments[0];
      if (first && (ts.isStringLiteral(first) || ts.isTemplateExpression(first) || ts.isNoSubstitutionTemplateLiteral(first) || ts.isBinaryExpression(first))) {
        report(n, 'raw text passed to .query(); use a pipeline of sql literals');
      }
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}
