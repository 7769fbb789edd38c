/**
 * The load runs' HTTP client: Node's http with kept-alive sockets, the body read as text. Against
 * the local world, `fetch` (undici, WHATWG streams) cost 2.2–2.5 ms of client CPU per request and
 * this 0.9–1.0 ms, measured on the 2-core development machine: CPU that a load run's clients would
 * otherwise take from the world whose latency they measure.
 */
import http from 'node:http';

export interface LoadResponse {
  status: number;
  /** Lower-cased names; one value per name (the load runs read single-valued fields). */
  header(name: string): string | undefined;
  text: string;
  /** Sent on a connection opened for it (not a kept-alive one). */
  newConnection: boolean;
}

export interface LoadClient {
  request(url: string, init?: { method?: string; headers?: Record<string, string>; body?: string }): Promise<LoadResponse>;
  /** Closes the kept-alive sockets. */
  close(): void;
}

export function loadClient(): LoadClient {
  const agent = new http.Agent({ keepAlive: true });
  return {
    request: (url, init = {}) =>
      new Promise((resolve, reject) => {
        const body = init.body === undefined ? undefined : Buffer.from(init.body);
        const headers = body ? { ...init.headers, 'content-length': String(body.length) } : init.headers;
        const req = http.request(url, { method: init.method ?? 'GET', headers, agent }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const h = res.headers;
            resolve({
              status: res.statusCode ?? 0,
              header: (name) => {
                const v = h[name.toLowerCase()];
                return Array.isArray(v) ? v.join(', ') : v;
              },
              text: Buffer.concat(chunks).toString('utf8'),
              newConnection: !req.reusedSocket,
            });
          });
        });
        req.on('error', reject);
        req.end(body);
      }),
    close: () => agent.destroy(),
  };
}
