/**
 * A blank, initialised PGlite data directory to start new databases from.
 * PGlite.create() runs initdb in WASM (3+ s, single-threaded, so four databases
 * do not overlap); loading a dump of a fresh one takes ~0.5 s. The dump is
 * cached per PGlite version in node_modules/.cache, shared by every world.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { REPO_ROOT } from '../state.ts';

const CACHE_DIR = join(REPO_ROOT, 'node_modules/.cache/edge-tenant-router');

async function pgliteVersion(): Promise<string> {
  const pkg = JSON.parse(await readFile(join(REPO_ROOT, 'node_modules/@electric-sql/pglite/package.json'), 'utf8'));
  return String(pkg.version);
}

let memo: Promise<Blob> | undefined;

export function pgliteTemplate(): Promise<Blob> {
  return (memo ??= (async () => {
    const file = join(CACHE_DIR, `pglite-${await pgliteVersion()}-blank.tar`);
    try {
      return new Blob([await readFile(file)]);
    } catch {
      // not cached yet
    }
    const pg = await PGlite.create();
    const blob = await pg.dumpDataDir('none');
    await pg.close();
    await mkdir(CACHE_DIR, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, Buffer.from(await blob.arrayBuffer()));
    await rename(tmp, file); // concurrent writers each rename a complete file
    return blob;
  })());
}

/** A new PGlite from the template; a broken cache is discarded and initdb runs instead. */
export async function createPglite(dataDir?: string): Promise<PGlite> {
  if (dataDir && dataDir !== 'memory://') return PGlite.create(dataDir);
  try {
    return await PGlite.create({ loadDataDir: await pgliteTemplate() });
  } catch {
    memo = undefined;
    await rm(CACHE_DIR, { recursive: true, force: true });
    return PGlite.create();
  }
}
