// A front end on its own origin, using the gateway across origins the way a single-page app
// would: fetch with a bearer token, JSON bodies, custom request headers (so every call that
// carries them is preflighted) and exposed response headers (x-request-id). Renders with
// textContent only: nothing from a response is parsed as HTML.
const $ = (id) => document.getElementById(id);
const config = await (await fetch('/config.json')).json(); // { gatewayUrl, regions }

/** { token, refreshToken, tenantId, region, expiresAt }; in memory only, gone on reload. */
let session = null;
let refreshes = 0;

$('page-origin').textContent = location.origin;
$('gateway-url').textContent = config.gatewayUrl;
for (const r of config.regions) $('signup-region').append(new Option(r, r));

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function showError(code, message) {
  $('error-code').textContent = code;
  $('error-message').textContent = message;
  $('error').hidden = false;
}

/** One call to the gateway; errors (the gateway's {"error":{code,message,requestId}}) are shown and thrown. */
async function call(method, path, { body, headers = {}, auth = true } = {}) {
  const h = { ...headers };
  if (body !== undefined) h['content-type'] = 'application/json';
  if (auth && session) h.authorization = `Bearer ${session.token}`;
  $('last-request').textContent = `${method} ${path}`;
  $('last-status').textContent = '…';
  $('last-request-id').textContent = '';
  let res;
  try {
    res = await fetch(config.gatewayUrl + path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    // What a browser reports when CORS refuses the response (or the gateway is down): no details.
    $('last-status').textContent = 'failed';
    showError('network_error', `the browser could not read the gateway's response (${e.message})`);
    throw e;
  }
  $('last-status').textContent = String(res.status);
  // Readable only because the gateway lists it in Access-Control-Expose-Headers.
  $('last-request-id').textContent = res.headers.get('x-request-id') ?? '(not exposed)';
  const data = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok) {
    const err = data?.error ?? { code: `http_${res.status}`, message: res.statusText };
    showError(err.code, err.requestId ? `${err.message} (request ${err.requestId})` : err.message);
    throw new ApiError(res.status, err.code, err.message);
  }
  $('error').hidden = true;
  return data;
}

function startSession(t) {
  session = {
    token: t.token,
    refreshToken: t.refresh_token,
    tenantId: t.tenant_id,
    region: t.tenant_region,
    expiresAt: new Date(Date.now() + t.expires_in * 1000),
  };
  $('tenant-id').textContent = session.tenantId;
  $('tenant-region').textContent = session.region;
  // Enough of the token to see that a refresh replaced it, not enough to use it.
  $('token-tail').textContent = session.token.slice(-8);
  $('token-expires').textContent = session.expiresAt.toISOString();
  $('refresh-count').textContent = String(refreshes);
  $('session').hidden = false;
  $('pages').hidden = false;
  $('auth').hidden = true;
}

async function loadPages() {
  const { pages } = await call('GET', '/api/pages?limit=50');
  const rows = pages.map((p) => {
    const tr = document.createElement('tr');
    tr.dataset.pageId = p.id;
    for (const v of [p.title, p.body, p.region]) {
      const td = document.createElement('td');
      td.textContent = v;
      tr.append(td);
    }
    return tr;
  });
  $('page-list').replaceChildren(...rows);
}

const formData = (form) => Object.fromEntries(new FormData(form));
/** Runs a UI action; a failed call is already on screen, so it is not thrown further. */
const act = (fn) => async (ev) => {
  ev?.preventDefault();
  try {
    await fn(ev);
  } catch (e) {
    if (!(e instanceof ApiError) && !(e instanceof TypeError)) showError('client_error', String(e));
  }
};

$('signup-form').addEventListener('submit', act(async (ev) => {
  startSession(await call('POST', '/auth/signup', { body: formData(ev.target), auth: false }));
  await loadPages();
}));

$('login-form').addEventListener('submit', act(async (ev) => {
  startSession(await call('POST', '/auth/login', { body: formData(ev.target), auth: false }));
  await loadPages();
}));

// The refresh token is rotated on every use: the answer carries the next one (presenting an old one ends the session).
$('refresh').addEventListener('click', act(async () => {
  const t = await call('POST', '/auth/refresh', { body: { refresh_token: session.refreshToken }, auth: false });
  refreshes++;
  startSession(t);
  await loadPages();
}));

// The token names the workspace's region; a request tagged with another one is refused (403 region_mismatch).
$('wrong-region').addEventListener('click', act(async () => {
  const other = config.regions.find((r) => r !== session.region);
  await call('GET', '/api/pages', { headers: { 'x-tenant-region': other } });
}));

$('create-form').addEventListener('submit', act(async (ev) => {
  await call('POST', '/api/pages', { body: formData(ev.target) });
  ev.target.reset();
  await loadPages();
}));

$('reload').addEventListener('click', act(loadPages));

// Revokes the session at central (every refresh token of it), then forgets it here.
$('logout').addEventListener('click', act(async () => {
  await call('POST', '/auth/logout', { body: { refresh_token: session.refreshToken }, auth: false });
  session = null;
  $('session').hidden = true;
  $('pages').hidden = true;
  $('auth').hidden = false;
  $('page-list').replaceChildren();
}));

document.body.dataset.ready = 'true';
