/**
 * Builds the data Worker exactly as it deploys (`wrangler deploy --dry-run` of
 * workers/data/<region>.toml: bundled, nodejs_compat, nothing uploaded), so the
 * workerd tests can run it as auxiliary Workers behind the gateway's real service
 * bindings. One bundle serves every region: a data Worker's region is configuration.
 */
import { execFile } from 'node:child_process';
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = new URL('../../', import.meta.url).pathname;

export async function buildDataWorkerBundle(outdir: string): Promise<string> {
  await mkdir(outdir, { recursive: true });
  await run(process.execPath, [join(ROOT, 'node_modules/wrangler/bin/wrangler.js'), 'deploy', '--dry-run', '--outdir', outdir, '-c', join(ROOT, 'workers/data/eu-central-1.toml')], {
    cwd: ROOT,
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: 'true', NO_COLOR: '1' },
    timeout: 120_000,
  });
  const script = join(outdir, 'index.js');
  await stat(script);
  return script;
}
