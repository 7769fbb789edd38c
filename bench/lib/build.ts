/** Building Worker bundles the way `wrangler deploy` does, and the gateway's bench configuration. */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { CENTRAL_AUDIENCE, newAssertionKeys } from '../../src/identity-assertion/index.ts';
import { AUDIENCE, ISSUER, type BenchKeys } from './keys.ts';

/** `wrangler deploy --dry-run` into `outRoot/name`; `config` is a wrangler.toml for a bench Worker (default: the gateway's). */
export function buildBundle(root: string, outRoot: string, name: string, config?: string): string {
  const outdir = join(outRoot, name);
  const args = ['wrangler', 'deploy', '--dry-run', '--outdir', outdir, ...(config ? ['--config', config] : [])];
  const r = spawnSync('npx', args, { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`wrangler build of ${name} failed:\n${r.stdout}${r.stderr}`);
  return join(outdir, config ? `${name}.js` : 'index.js');
}

/** The gateway's bindings in the bench: static keys, every region on the one origin, fresh assertion keys. */
export function gatewayBindings(keys: BenchKeys, origin: string, regionNames: readonly string[]): Record<string, unknown> {
  return {
    JWT_ISSUER: ISSUER,
    JWT_AUDIENCE: AUDIENCE,
    JWT_PUBLIC_KEYS: { keys: [keys.publicJwk] },
    JWT_ALGORITHMS: ['ES256', 'EdDSA'],
    CENTRAL_ORIGIN: origin,
    REGIONS: Object.fromEntries(regionNames.map((n) => [n, { origin }])),
    GATEWAY_ASSERTION_KEYS: newAssertionKeys([...regionNames, CENTRAL_AUDIENCE]),
  };
}

/** `--name value` from the command line, or the fallback. */
export function argOf(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1]!;
}
