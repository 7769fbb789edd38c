/**
 * Runs Worker bundles under the `workerd` binary itself, from a generated capnp config:
 * no wrangler dev proxy, no miniflare entry worker in front, no dev logging — each
 * socket goes straight to the Worker, as on Cloudflare's edge.
 */
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { freePort, startChild, waitForPort, type Child } from './proc.ts';

export interface WorkerSpec {
  /** Service and socket name. */
  name: string;
  /** Path of the bundled ES module (embedded relative to the config file, as workerd requires). */
  modulePath: string;
  /** Text bindings (strings) and JSON bindings (anything else). */
  bindings: Record<string, unknown>;
}

export interface RunningWorkerd {
  child: Child;
  ports: Record<string, number>;
  url: (name: string) => string;
}

const COMPATIBILITY_DATE = '2026-11-01';

function capnpString(s: string): string {
  return JSON.stringify(s); // capnp text strings use the same escapes as JSON for what we pass
}

function bindingLine(name: string, value: unknown): string {
  return typeof value === 'string'
    ? `(name = ${capnpString(name)}, text = ${capnpString(value)})`
    : `(name = ${capnpString(name)}, json = ${capnpString(JSON.stringify(value))})`;
}

export function workerdBinary(): string {
  const require = createRequire(import.meta.url);
  return join(require.resolve('workerd/package.json'), '..', 'bin', 'workerd');
}

export async function startWorkerd(dir: string, workers: WorkerSpec[], opts: { cpus?: string; configName?: string } = {}): Promise<RunningWorkerd> {
  const ports: Record<string, number> = {};
  for (const w of workers) ports[w.name] = await freePort();
  const services = workers.map(
    (w) => `    (name = ${capnpString(w.name)}, worker = (
      modules = [(name = "worker.js", esModule = embed ${capnpString(relative(dir, w.modulePath))})],
      compatibilityDate = "${COMPATIBILITY_DATE}",
      compatibilityFlags = ["nodejs_compat"],
      bindings = [${Object.entries(w.bindings).map(([k, v]) => bindingLine(k, v)).join(', ')}],
      globalOutbound = "loopback",
    )),`,
  );
  const sockets = workers.map((w) => `    (name = ${capnpString(w.name)}, address = "127.0.0.1:${ports[w.name]}", http = (), service = ${capnpString(w.name)}),`);
  const config = `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
${services.join('\n')}
    # The bench's origins are on 127.0.0.1: allow private/local addresses for outbound fetch.
    (name = "loopback", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [
${sockets.join('\n')}
  ],
);
`;
  const configPath = join(dir, opts.configName ?? 'workerd.capnp');
  writeFileSync(configPath, config);
  // Its output (a log line per gateway request) goes to a file beside the config: see startChild.
  const child = startChild('workerd', workerdBinary(), ['serve', configPath], { cpus: opts.cpus, logFile: configPath.replace(/\.capnp$/, '') + '.log' });
  await Promise.all(Object.values(ports).map((p) => waitForPort(p, 30_000, child)));
  return { child, ports, url: (name) => `http://127.0.0.1:${ports[name]}` };
}
