/**
 * `npm run bench:profile` — where the gateway's per-request JavaScript time goes.
 * Runs the built bundle in workerd with the V8 inspector on, drives it with wrk at
 * saturation while the sampling profiler runs, and prints self time grouped by
 * source (src/<folder>, hono, jose, zod, runtime/native) and the top functions.
 *
 *   npm run bench:profile [-- --seconds 5 --cache-size 4096 --bundle path/to/index.js --path /api/pages]
 *
 * The bundle is one file (worker.js to V8), so samples are attributed to source modules by
 * the `// src/...` and `// node_modules/...` markers esbuild writes before each module.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CENTRAL_AUDIENCE, newAssertionKeys } from '../src/identity-assertion/index.ts';
import { fileURLToPath } from 'node:url';
import { argOf } from './lib/build.ts';
import { startOrigin } from './lib/haproxy.ts';
import { AUDIENCE, ISSUER, makeKeys, mintToken } from './lib/keys.ts';
import { CLIENT_CPUS, freePort, SERVER_CPUS, startChild, stopAll, waitForPort } from './lib/proc.ts';
import { workerdBinary } from './lib/workerd.ts';
import { runWrk } from './lib/wrk.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT = join(ROOT, 'bench', 'out', 'profile');
const SECONDS = Number(argOf('seconds', '5'));

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount: number;
  children?: number[];
}

/** Bundle line (0-based) → the source module esbuild placed there, from its `// path` markers. */
function moduleMap(bundle: string): (line: number) => string | undefined {
  const starts: Array<[number, string]> = [];
  bundle.split('\n').forEach((l, i) => {
    const m = /^\/\/ (?:\.\.\/)*((?:src|bench|node_modules)\/\S+)$/.exec(l);
    if (m) starts.push([i, m[1]!]);
  });
  return (line) => {
    let lo = 0;
    let hi = starts.length - 1;
    let found: string | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid]![0] <= line) {
        found = starts[mid]![1];
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  };
}

function bucket(module: string | undefined, url: string, fn: string): string {
  if (module) {
    const m = /^src\/([a-z-]+)\//.exec(module) ?? /^src\/([a-z-]+)\.ts/.exec(module);
    if (m) return `src/${m[1]}`;
    const lib = /^node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(module);
    return lib ? lib[1]! : module;
  }
  if (!url) return fn.startsWith('(') ? fn : '(native / runtime)';
  return url;
}

async function main(): Promise<void> {
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  const given = argOf('bundle', '');
  if (given) {
    mkdirSync(join(OUT, 'build'));
    copyFileSync(resolve(given), join(OUT, 'build', 'index.js'));
  } else {
    const r = spawnSync('npx', ['wrangler', 'deploy', '--dry-run', '--outdir', join(OUT, 'build')], { cwd: ROOT, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
  }
  const moduleAt = moduleMap(readFileSync(join(OUT, 'build', 'index.js'), 'utf8'));
  const keys = makeKeys(OUT);
  const token = await mintToken(keys, {});
  const origin = await startOrigin(OUT, CLIENT_CPUS);
  const port = await freePort();
  const inspector = await freePort();
  const bindings = {
    JWT_ISSUER: ISSUER,
    JWT_AUDIENCE: AUDIENCE,
    JWT_PUBLIC_KEYS: JSON.stringify({ keys: [keys.publicJwk] }),
    CENTRAL_ORIGIN: origin.url,
    REGIONS: JSON.stringify({ 'eu-central-1': { origin: origin.url } }),
    GATEWAY_ASSERTION_KEYS: JSON.stringify(newAssertionKeys(['eu-central-1', CENTRAL_AUDIENCE])),
    JWT_VERIFIED_CACHE_SIZE: argOf('cache-size', '4096'),
    // For bench/workers/hot-path.ts given as --bundle (its /stage/<mode> paths); unused by the gateway.
    ORIGIN: origin.url,
    BENCH_TOKEN: token,
    // Bare workerd has no Rate Limiting binding, and one bench tenant at wrk's rate would be over any
    // limit: rate limits off; the in-flight bound stays on the path, above wrk's connections.
    TENANT_RATE_LIMITS: 'off',
    ADMIN_RATE_LIMIT: 'off',
    TENANT_MAX_IN_FLIGHT: '10000',
  };
  writeFileSync(
    join(OUT, 'workerd.capnp'),
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "gateway", worker = (
      modules = [(name = "worker.js", esModule = embed "build/index.js")],
      compatibilityDate = "2026-11-01",
      compatibilityFlags = ["nodejs_compat"],
      bindings = [${Object.entries(bindings).map(([k, v]) => `(name = ${JSON.stringify(k)}, text = ${JSON.stringify(v)})`).join(', ')}],
      globalOutbound = "loopback",
    )),
    (name = "loopback", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "gateway")],
);
`,
  );
  const workerd = startChild('workerd', workerdBinary(), ['serve', join(OUT, 'workerd.capnp'), `--inspector-addr=127.0.0.1:${inspector}`], { cpus: SERVER_CPUS, logFile: join(OUT, 'workerd.log') });
  await waitForPort(port, 30_000, workerd);
  await waitForPort(inspector, 30_000, workerd);
  const url = `http://127.0.0.1:${port}`;
  await runWrk({ url, path: argOf('path', '/api/pages'), token, connections: 4, durationSeconds: 2, cpus: CLIENT_CPUS }); // warm-up

  const targets = (await (await fetch(`http://127.0.0.1:${inspector}/json`)).json()) as Array<{ webSocketDebuggerUrl: string }>;
  const ws = new WebSocket(targets[0]!.webSocketDebuggerUrl);
  await new Promise((res, rej) => {
    ws.onopen = res;
    ws.onerror = rej;
  });
  let next = 1;
  const pending = new Map<number, (v: unknown) => void>();
  ws.onmessage = (ev) => {
    const msg = JSON.parse(String(ev.data)) as { id?: number; result?: unknown };
    if (msg.id && pending.has(msg.id)) pending.get(msg.id)!(msg.result);
  };
  const send = (method: string, params: object = {}) =>
    new Promise<unknown>((res) => {
      const id = next++;
      pending.set(id, res);
      ws.send(JSON.stringify({ id, method, params }));
    });
  await send('Profiler.enable');
  await send('Profiler.setSamplingInterval', { interval: 100 });
  await send('Profiler.start');
  const load = await runWrk({ url, path: argOf('path', '/api/pages'), token, connections: 32, durationSeconds: SECONDS, cpus: CLIENT_CPUS });
  const { profile } = (await send('Profiler.stop')) as { profile: { nodes: Node[]; startTime: number; endTime: number } };
  ws.close();
  await stopAll();
  writeFileSync(join(OUT, 'gateway.cpuprofile'), JSON.stringify(profile));

  // Shares of the time workerd was busy: idle samples (waiting on the network) are left out.
  const total = profile.nodes.reduce((s, n) => s + (n.callFrame.functionName === '(idle)' ? 0 : n.hitCount), 0);
  const byBucket = new Map<string, number>();
  const byFn = new Map<string, number>();
  for (const n of profile.nodes) {
    if (n.callFrame.functionName === '(idle)') continue;
    const inBundle = n.callFrame.url.endsWith('worker.js');
    const module = inBundle ? moduleAt(n.callFrame.lineNumber) : undefined;
    const b = bucket(module, inBundle ? '' : n.callFrame.url, n.callFrame.functionName);
    byBucket.set(b, (byBucket.get(b) ?? 0) + n.hitCount);
    const fn = `${n.callFrame.functionName || '(anonymous)'} ${module ?? b}${inBundle ? ` (bundle line ${n.callFrame.lineNumber + 1})` : ''}`;
    byFn.set(fn, (byFn.get(fn) ?? 0) + n.hitCount);
  }
  const pct = (x: number) => ((100 * x) / total).toFixed(1).padStart(5) + '%';
  console.log(`${load.rps.toFixed(0)} req/s during the profile (${load.non2xx} non-2xx); ${total} busy samples; self time by source, as shares of busy time:`);
  for (const [b, n] of [...byBucket].sort((a, b) => b[1] - a[1])) console.log(`  ${pct(n)}  ${b}`);
  console.log('top functions (self time):');
  for (const [f, n] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`  ${pct(n)}  ${f}`);
  console.log(`profile written to ${join(OUT, 'gateway.cpuprofile')} (open in Chrome DevTools)`);
}

main().catch(async (err) => {
  console.error(err);
  await stopAll();
  process.exit(1);
});
