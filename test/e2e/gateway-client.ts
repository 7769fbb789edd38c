/** Talking to the local world's gateway the way a client app does: JSON, bearer tokens, signup. */
import { expect } from 'vitest';

export const PASSWORD = 'correct horse battery';

export interface Signup {
  token: string;
  tenant_id: string;
  tenant_region: string;
  user_id: string;
}

/** `gatewayUrl` is a getter because the world starts in beforeAll, after the module is loaded. */
export function gatewayClient(gatewayUrl: () => string) {
  const gw = (path: string, init: RequestInit & { token?: string } = {}) => {
    const headers = new Headers(init.headers);
    if (init.token) headers.set('authorization', `Bearer ${init.token}`);
    if (init.body) headers.set('content-type', 'application/json');
    return fetch(gatewayUrl() + path, { ...init, headers });
  };
  async function signup(email: string, region: string, opts: { workspace?: string; password?: string } = {}): Promise<Signup> {
    const body = { email, password: opts.password ?? PASSWORD, workspace: opts.workspace ?? `${region} co`, region };
    const res = await gw('/auth/signup', { method: 'POST', body: JSON.stringify(body) });
    expect(res.status, await res.clone().text()).toBe(201);
    return res.json() as Promise<Signup>;
  }
  return { gw, signup };
}
