/**
 * The shape of src/: app.ts composes and nothing imports it but the entry, and the
 * step folders import each other without cycles (type-only imports aside), so a
 * reader can take any folder on its own.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../../src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return sourceFiles(p);
    return p.endsWith('.ts') && !p.endsWith('.test.ts') ? [p] : [];
  });
}

/** Relative imports of a file that exist at run time (not `import type`, not `export type`). */
function valueImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  const re = /^\s*(import|export)\s+(type\s+)?[^'";]*?from\s+'(\.[^']+)'/gm;
  for (const m of text.matchAll(re)) {
    if (m[2]) continue;
    out.push(resolve(dirname(file), m[3]!));
  }
  for (const m of text.matchAll(/^\s*import\s+'(\.[^']+)'/gm)) out.push(resolve(dirname(file), m[1]!));
  return out;
}

const folderOf = (file: string) => relative(SRC, file).split('/')[0]!;

describe('src/ import graph', () => {
  const files = sourceFiles(SRC);

  it('only the entry imports app.ts, type-only imports included', () => {
    const importers = files.filter((f) => {
      const text = readFileSync(f, 'utf8');
      return /from\s+'[./]*\/?app\.ts'/.test(text) && resolve(dirname(f), text.match(/from\s+'([./]*\/?app\.ts)'/)![1]!) === join(SRC, 'app.ts');
    });
    expect(importers.map((f) => relative(SRC, f))).toEqual(['index.ts']);
  });

  it('step folders form no import cycle', () => {
    const edges = new Map<string, Set<string>>();
    for (const f of files) {
      const from = folderOf(f);
      for (const target of valueImports(f)) {
        const to = folderOf(target);
        if (to === from || to.endsWith('.ts')) continue;
        if (!edges.has(from)) edges.set(from, new Set());
        edges.get(from)!.add(to);
      }
    }
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const visit = (node: string, path: string[]) => {
      if (state.get(node) === 'done') return;
      if (state.get(node) === 'open') {
        cycles.push([...path.slice(path.indexOf(node)), node].join(' → '));
        return;
      }
      state.set(node, 'open');
      for (const next of edges.get(node) ?? []) visit(next, [...path, node]);
      state.set(node, 'done');
    };
    for (const node of edges.keys()) visit(node, []);
    expect(cycles).toEqual([]);
  });
});
