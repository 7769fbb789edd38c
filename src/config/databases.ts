/**
 * Regional databases for the direct data path (src/query). Connection URLs carry
 * credentials, so they come from ONE secret, REGION_DATABASES (JSON):
 *
 *   { "eu-central-1": {
 *       "primary": "postgres://gateway:pw@ep-x.eu-central-1.aws.neon.tech/app",
 *       "replica": { "url": "postgres://gateway:pw@ep-y.../app", "wsProxy": "proxy.example.com/v2" },
 *       "role": "app_rw" } }
 *
 * An endpoint is a URL string or { url, wsProxy?, pipelineConnect? } (reached with
 * @neondatabase/serverless over a WebSocket), or { hyperdrive: "<binding name>" } (a
 * Hyperdrive binding of the data Worker, reached with node-postgres over TCP; its
 * connection string comes from the binding, never from a var). Driver options
 * (neonConfig) default to what Neon needs; the local world sets them to reach its
 * WebSocket-to-TCP proxies. Nothing here is test-only.
 * Errors name the field, never the value (URLs are secrets).
 */
import { z } from 'zod';
import { booleanish, numberish } from './env-values.ts';

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
/** A Postgres role name we are willing to SET ROLE to: plain lowercase identifiers. */
const ROLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
/** host[:port][/path] with optional {host}/{port} placeholders for the target; no scheme (the driver adds ws:// or wss://). */
const WS_PROXY = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\])(?::\d{1,5})?(?:\/[A-Za-z0-9._~\-/{}=&?%]*)?$/;

export type PipelineConnect = 'password' | false;

/** How a database is reached (src/query/transport.ts): Neon's WebSocket driver, or node-postgres over TCP through a Hyperdrive binding. */
export type TransportName = 'neon' | 'hyperdrive';

/** The part of a Hyperdrive binding the data path reads (workers-types' Hyperdrive). */
export interface HyperdriveBinding {
  readonly connectionString: string;
}

/** A Worker binding name: what wrangler accepts and what the config may name (never a URL). */
export const BINDING_NAME = /^[A-Z][A-Z0-9_]{0,63}$/;

export interface DatabaseEndpoint {
  /** Secret: never logged, never in a response. */
  readonly url: string;
  /** Safe to log. */
  readonly host: string;
  readonly port: number;
  /** neonConfig.wsProxy: a fixed host:port/path, or a template with {host} and {port}. Unset: Neon's own endpoint. */
  readonly wsProxy?: string;
  readonly pipelineConnect: PipelineConnect;
  readonly transport: TransportName;
}

export interface RegionDatabase {
  readonly region: string;
  readonly primary: DatabaseEndpoint;
  readonly replica?: DatabaseEndpoint;
  /** Same-zone standby (REGION_STANDBY_DATABASES; zone checked at validation): reads fail over to it, writes only while the primary's circuit is open. */
  readonly standby?: DatabaseEndpoint;
  /** When set, every transaction first switches to this role (set_config('role', ..., true)). */
  readonly role?: string;
}

export interface DatabaseDriverConfig {
  readonly useSecureWebSocket: boolean;
  readonly pipelineConnect: PipelineConnect;
  /** DATABASE_TIMEOUT_MS: to connect; the read deadline is this + the route's statement timeout + 1 s. */
  readonly connectTimeoutMs: number;
  readonly retryAfterSeconds: number;
}

const pipelineConnectSchema = z.enum(['password', 'off']).transform((v): PipelineConnect => (v === 'off' ? false : 'password'));

const postgresUrl = z.string().transform((s, ctx) => {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be a postgres:// URL' });
    return z.NEVER;
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    ctx.addIssue({ code: 'custom', message: 'must be a postgres:// URL' });
    return z.NEVER;
  }
  if (!u.hostname || !u.pathname || u.pathname === '/') {
    ctx.addIssue({ code: 'custom', message: 'must name a host and a database' });
    return z.NEVER;
  }
  return { url: s, host: u.hostname, port: Number(u.port || 5432) };
});

const endpointSchema = z.union([
  postgresUrl.transform((p) => ({ ...p, wsProxy: undefined as string | undefined, pipelineConnect: undefined as PipelineConnect | undefined })),
  z.strictObject({ hyperdrive: z.string().regex(BINDING_NAME, 'must be a binding name (A-Z, 0-9, _)') }),
  z
    .strictObject({
      url: postgresUrl,
      wsProxy: z.string().max(512).regex(WS_PROXY, 'must be host[:port][/path] without a scheme').optional(),
      pipelineConnect: pipelineConnectSchema.optional(),
    })
    .transform((o) => ({ ...o.url, wsProxy: o.wsProxy, pipelineConnect: o.pipelineConnect })),
]);

/**
 * REGION_STANDBY_DATABASES entry: an endpoint plus the residency zone the operator states for it
 * (src/config/index.ts refuses a zone other than the region's).
 */
export const standbyDatabaseSchema = z
  .strictObject({
    url: postgresUrl,
    zone: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'zone names are short lowercase words (eu, us, apac)'),
    wsProxy: z.string().max(512).regex(WS_PROXY, 'must be host[:port][/path] without a scheme').optional(),
    pipelineConnect: pipelineConnectSchema.optional(),
  })
  .transform((o) => ({ ...o.url, zone: o.zone, wsProxy: o.wsProxy, pipelineConnect: o.pipelineConnect }));

export const regionDatabaseSchema = z.strictObject({
  primary: endpointSchema,
  replica: endpointSchema.optional(),
  role: z.string().regex(ROLE_NAME, 'must be a lowercase role name').optional(),
});

/** The fields src/config/index.ts adds to its env schema. */
export const databaseEnvFields = {
  DB_USE_SECURE_WEBSOCKET: booleanish.default(true),
  DB_PIPELINE_CONNECT: pipelineConnectSchema.default('password'),
  // The connect timeout is DATABASE_TIMEOUT_MS (src/config/index.ts): one knob for the database deadline.
  DB_RETRY_AFTER_SECONDS: numberish(1, 3600).default(5),
};

type ParsedEndpoint = { url: string; host: string; port: number; wsProxy?: string; pipelineConnect?: PipelineConnect };
type EndpointInput = z.infer<typeof endpointSchema>;

/** A Hyperdrive binding's connection string as an endpoint; undefined if the env has no such binding. */
function hyperdriveEndpoint(binding: unknown): ParsedEndpoint | undefined {
  const cs = (binding as Partial<HyperdriveBinding> | null)?.connectionString;
  if (typeof cs !== 'string') return undefined;
  try {
    const u = new URL(cs);
    return { url: cs, host: u.hostname, port: Number(u.port || 5432) };
  } catch {
    return undefined;
  }
}

function wsProxyHost(e: ParsedEndpoint): string {
  if (!e.wsProxy) return e.host;
  const hostPort = e.wsProxy.split('/')[0]!;
  return hostPort.startsWith('[') ? hostPort.slice(0, hostPort.indexOf(']') + 1) : hostPort.split(':')[0]!;
}

export function buildDatabases(
  raw: Record<string, z.infer<typeof regionDatabaseSchema>> | undefined,
  standbys: Record<string, z.infer<typeof standbyDatabaseSchema>> | undefined,
  regionNames: ReadonlySet<string>,
  driver: DatabaseDriverConfig,
  addIssue: (path: string, message: string) => void,
  bindings: Readonly<Record<string, unknown>> = {},
): ReadonlyMap<string, RegionDatabase> {
  const out = new Map<string, RegionDatabase>();
  for (const [region, db] of Object.entries(raw ?? {})) {
    if (!regionNames.has(region)) {
      addIssue(`REGION_DATABASES.${region}`, 'is not a configured region (see REGIONS)');
      continue;
    }
    const endpoint = (input: EndpointInput | ParsedEndpoint, which: string): DatabaseEndpoint => {
      const path = which === 'standby' ? `REGION_STANDBY_DATABASES.${region}` : `REGION_DATABASES.${region}.${which}`;
      if ('hyperdrive' in input) {
        const hd = hyperdriveEndpoint(bindings[input.hyperdrive]);
        if (!hd) addIssue(path, 'names no Hyperdrive binding of this Worker');
        const e = hd ?? { url: '', host: '', port: 0 };
        return Object.freeze({ url: e.url, host: e.host, port: e.port, wsProxy: undefined, pipelineConnect: false as const, transport: 'hyperdrive' as const });
      }
      const e: ParsedEndpoint = input;
      // Plain ws:// only to a proxy on this machine (the local world); anything else must be wss://.
      if (!driver.useSecureWebSocket && !LOOPBACK_HOSTS.has(wsProxyHost(e))) {
        addIssue(path, 'DB_USE_SECURE_WEBSOCKET=false is allowed only for loopback WebSocket proxies');
      }
      return Object.freeze({ url: e.url, host: e.host, port: e.port, wsProxy: e.wsProxy, pipelineConnect: e.pipelineConnect ?? driver.pipelineConnect, transport: 'neon' as const });
    };
    out.set(
      region,
      Object.freeze({
        region,
        primary: endpoint(db.primary, 'primary'),
        replica: db.replica ? endpoint(db.replica, 'replica') : undefined,
        standby: standbys?.[region] ? endpoint(standbys[region], 'standby') : undefined,
        role: db.role,
      }),
    );
  }
  for (const region of Object.keys(standbys ?? {})) {
    // Its zone was checked with REGIONS; a standby for a region without a primary would never be used.
    if (regionNames.has(region) && !out.has(region)) addIssue(`REGION_STANDBY_DATABASES.${region}`, 'has no primary in REGION_DATABASES');
  }
  return out;
}
