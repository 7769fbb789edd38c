import { execFile } from 'node:child_process';
import { rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { decodeJwt, decodeProtectedHeader, importJWK, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { publicJwk } from './auth/tokens.ts';
import { makeTestSandbox, readState, REPO_ROOT } from './state.ts';
import { startWorld, type World } from './world.ts';

// Whole worlds start here (databases, apps, maybe wrangler): far beyond the default timeouts.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 180_000 });

const run = promisify(execFile);

describe('startWorld without the gateway (PGlite)', () => {
  let world: World;
  let sandboxDir: string;
  let squatter: Server;
  let squatted: number;

  beforeAll(async () => {
    sandboxDir = await makeTestSandbox('world-test-');
    // A port someone else holds: asking for it must fall back, not fail.
    squatter = createServer();
    await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r));
    squatted = (squatter.address() as { port: number }).port;
    world = await startWorld({ dbMode: 'pglite', gateway: false, sandboxDir, ports: { central: squatted } });
  }, 120_000);
  afterAll(async () => {
    await world?.stop();
    squatter.close();
    await rm(sandboxDir, { recursive: true, force: true });
  });

  it('writes state.json (0600) with every endpoint on 127.0.0.1 and distinct ports', async () => {
    const state = await readState(sandboxDir);
    expect(state).toEqual(world.state);
    expect((await stat(world.statePath)).mode & 0o777).toBe(0o600);
    expect(state).toMatchObject({ gatewayUrl: null, dbMode: 'pglite', audience: 'edge-tenant-router', issuer: state.centralUrl });
    expect(state.jwksUrl).toBe(`${state.centralUrl}/.well-known/jwks.json`);
    // One distinct key per region and for central: no region's key can vouch for another.
    expect(Object.keys(state.assertionKeys).sort()).toEqual(['ap-southeast-2', 'central', 'eu-central-1', 'us-east-1']);
    const secrets = Object.values(state.assertionKeys).flatMap((ring) => ring.map((k) => k.secret));
    expect(new Set(secrets).size).toBe(4);
    for (const s of secrets) expect(s).toHaveLength(64);
    expect(state.signingKey).toMatchObject({ kty: 'EC', alg: 'ES256', kid: expect.any(String), d: expect.any(String) });
    expect(Object.keys(state.regions)).toEqual(['us-east-1', 'eu-central-1', 'ap-southeast-2']);
    const urls = [state.centralUrl, state.central.databaseUrl, state.central.wsProxyUrl, ...Object.values(state.regions).flatMap((r) => [r.originUrl, r.databaseUrl, r.wsProxyUrl])];
    for (const u of urls) expect(new URL(u).hostname).toBe('127.0.0.1');
    expect(new Set(urls.map((u) => new URL(u).port)).size).toBe(urls.length);
    expect(new URL(state.centralUrl).port).not.toBe(String(squatted));
    expect(world.portFallbacks).toEqual([{ service: 'central', preferred: squatted, port: Number(new URL(state.centralUrl).port) }]);
  });

  it('serves central and every region', async () => {
    expect((await fetch(`${world.centralUrl}/healthz`)).status).toBe(200);
    for (const [region, r] of Object.entries(world.regions)) {
      expect(await (await fetch(`${r.originUrl}/healthz`)).json()).toMatchObject({ region });
    }
  });

  it('npm run token prints a token like the central app issues, signed with the sandbox key', async () => {
    const { stdout } = await run(process.execPath, [join(REPO_ROOT, 'infra/token.ts'), '--sandbox', sandboxDir, '--tenant', 'ws_cli0000000', '--region', 'eu-central-1', '--sub', 'u-1', '--ttl', '60']);
    const token = stdout.trim();
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'ES256', kid: world.state.signingKey.kid, typ: 'at+jwt' });
    const key = await importJWK(publicJwk(world.state.signingKey), 'ES256');
    const { payload } = await jwtVerify(token, key, { issuer: world.state.issuer, audience: 'edge-tenant-router' });
    expect(payload).toMatchObject({ sub: 'u-1', tenant_id: 'ws_cli0000000', tenant_region: 'eu-central-1' });
    expect(payload.exp! - payload.iat!).toBe(60);
    expect(decodeJwt(token).jti).toBeTruthy();
    await expect(run(process.execPath, [join(REPO_ROOT, 'infra/token.ts'), '--sandbox', sandboxDir, '--region', 'x'])).rejects.toMatchObject({ code: 2 });
  });

  it('stop() closes every port and removes state.json', async () => {
    const ports = [world.centralUrl, ...Object.values(world.regions).flatMap((r) => [r.originUrl, r.databaseUrl, r.wsProxyUrl])].map((u) => Number(new URL(u).port));
    await world.stop();
    await expect(stat(world.statePath)).rejects.toThrow();
    for (const port of ports) {
      const refused = await new Promise<boolean>((resolve) => {
        const s = createServer();
        s.once('error', () => resolve(false));
        s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
      });
      expect(refused, `port ${port} free again`).toBe(true);
    }
  });
});
