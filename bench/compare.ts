/**
 * `npm run bench:compare` — a quick paired comparison of server CPU per request, for deciding
 * whether a change to the hot path helps: the gateway built from this tree (cache on and off),
 * the bare pass-through Worker and the hono + jose peer, plus any other gateway bundles given
 * with `--bundle name=path/to/index.js` (e.g. one built from main), all in one workerd, driven
 * by wrk at saturation in interleaved rounds (the order rotates). CPU time comes from /proc, so
 * the machine's other load mostly drops out; the ratios are paired per round, then medians.
 *
 *   npm run bench:compare [-- --rounds 7 --duration 3 --bundle main=/tmp/main/index.js]
 */
import { mkdirSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { argOf, buildBundle, gatewayBindings } from './lib/build.ts';
import { startOrigin } from './lib/haproxy.ts';
import { AUDIENCE, ISSUER, makeKeys, mintToken } from './lib/keys.ts';
import { CLIENT_CPUS, cpuNs, median, SERVER_CPUS, stopAll } from './lib/proc.ts';
import { startWorkerd, type WorkerSpec } from './lib/workerd.ts';
import { runWrk } from './lib/wrk.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT = join(ROOT, 'bench', 'out', 'compare');
const ROUNDS = Number(argOf('rounds', '5'));
const DURATION = Number(argOf('duration', '3'));
const extra = process.argv.flatMap((a, i) => (a === '--bundle' ? [process.argv[i + 1]!] : [])).map((s) => {
  const eq = s.indexOf('=');
  return { name: s.slice(0, eq), path: resolve(s.slice(eq + 1)) };
});

const build = (name: string, config?: string) => buildBundle(ROOT, join(OUT, 'build'), name, config);

async function main(): Promise<void> {
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  const gateway = build('gateway');
  const hono = build('hono-jose', 'bench/workers/wrangler.hono-jose.toml');
  const keys = makeKeys(OUT);
  const token = await mintToken(keys, {});
  const origin = await startOrigin(OUT, CLIENT_CPUS);
  const regionNames = ['us-east-1', 'eu-central-1', 'ap-southeast-2'];
  const bindings = gatewayBindings(keys, origin.url, regionNames);
  const workers: WorkerSpec[] = [
    { name: 'passthrough', modulePath: join(ROOT, 'bench/workers/passthrough.js'), bindings: { ORIGIN: origin.url } },
    { name: 'hono-jose', modulePath: hono, bindings: { JWK: JSON.stringify(keys.publicJwk), ISSUER, AUDIENCE, REGIONS: Object.fromEntries(regionNames.map((n) => [n, origin.url])) } },
    { name: 'gateway', modulePath: gateway, bindings },
    { name: 'gateway-nocache', modulePath: gateway, bindings: { ...bindings, JWT_VERIFIED_CACHE_SIZE: '0' } },
    ...extra.map((e) => ({ name: e.name, modulePath: e.path, bindings })),
  ];
  const workerd = await startWorkerd(OUT, workers, { cpus: SERVER_CPUS });
  const pid = workerd.child.proc.pid!;
  const cpu = new Map(workers.map((w) => [w.name, [] as number[]]));
  const rps = new Map(workers.map((w) => [w.name, [] as number[]]));
  const load0 = loadavg()[0]!.toFixed(2);
  for (let round = 0; round < ROUNDS; round++) {
    const order = workers.map((_, i) => workers[(i + round) % workers.length]!);
    for (const w of order) {
      const url = workerd.url(w.name);
      await runWrk({ url, token, connections: 8, durationSeconds: 1, cpus: CLIENT_CPUS });
      const before = cpuNs(pid);
      const r = await runWrk({ url, token, connections: 32, durationSeconds: DURATION, cpus: CLIENT_CPUS });
      if (r.non2xx + r.connect + r.read + r.write + r.timeout > 0 || r.requests === 0) throw new Error(`${w.name}: errors or no requests`);
      cpu.get(w.name)!.push((cpuNs(pid) - before) / 1000 / r.requests);
      rps.get(w.name)!.push(r.rps);
    }
    process.stderr.write(`round ${round + 1}/${ROUNDS}: ${workers.map((w) => `${w.name} ${cpu.get(w.name)!.at(-1)!.toFixed(0)}`).join(', ')} µs/req\n`);
  }
  const base = cpu.get('passthrough')!;
  const hj = cpu.get('hono-jose')!;
  const paired = (xs: number[], ys: number[]) => median(xs.map((x, i) => ys[i]! / x));
  console.log(`load average ${load0} → ${loadavg()[0]!.toFixed(2)}; ${ROUNDS} rounds × ${DURATION} s, wrk -c32; server CPU per request (median [min–max]), paired ratios of requests per CPU-second`);
  console.log('| target | CPU µs/req | req per CPU-s | × pass-through | × hono+jose | wall req/s |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const w of workers) {
    const xs = cpu.get(w.name)!;
    console.log(
      `| ${w.name} | ${median(xs).toFixed(0)} [${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)}] | ${(1e6 / median(xs)).toFixed(0)} | ${paired(xs, base).toFixed(2)} | ${paired(xs, hj).toFixed(2)} | ${median(rps.get(w.name)!).toFixed(0)} |`,
    );
  }
  await stopAll();
}

main().catch(async (err) => {
  console.error(err);
  await stopAll();
  process.exit(1);
});
