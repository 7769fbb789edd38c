/**
 * The status page's static files, served by the Worker itself (no asset binding,
 * no build step). The script renders only with textContent: tenant ids and paths
 * come from requests, so nothing from the JSON is ever parsed as HTML.
 */

export const STATUS_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>edge-tenant-router · status</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/admin/status.css">
<script src="/admin/status.js" defer></script>
</head>
<body>
<header>
  <h1>edge-tenant-router <span class="muted">status</span></h1>
  <div id="summary">
    <span id="overall" class="badge unknown" data-testid="overall">loading…</span>
    <span class="muted">updated <span id="updated" data-testid="updated">never</span></span>
  </div>
</header>
<section id="login" hidden>
  <p>This page needs an admin token (a central-issuer token with the admin role claim).</p>
  <form id="login-form"><input id="token" type="password" autocomplete="off" placeholder="admin token" aria-label="admin token"><button type="submit">Show status</button></form>
  <p id="login-error" class="error" role="alert"></p>
</section>
<main id="main" hidden>
  <section>
    <h2>Regions <span class="muted small" id="window"></span></h2>
    <div id="regions" class="cards" data-testid="regions"></div>
  </section>
  <section>
    <h2>Tenants limited <span class="muted small">(429 rate_limited, 503 tenant_busy)</span></h2>
    <table id="limited" data-testid="limited">
      <thead><tr><th>tenant</th><th>429</th><th>503</th><th>last</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
  <section>
    <h2>Latest routing decisions</h2>
    <table id="decisions" data-testid="decisions">
      <thead><tr><th>time</th><th>method</th><th>path</th><th>tenant</th><th>to</th><th>status</th><th>ms</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
  <footer class="muted small" id="scope"></footer>
</main>
</body>
</html>
`;

export const STATUS_CSS = `
:root { --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --fg: #1f2328; --muted: #656d76; --bg: #f6f8fa; --card: #fff; --line: #d0d7de; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; justify-content: space-between; align-items: center; padding: 12px 20px; background: var(--card); border-bottom: 1px solid var(--line); }
h1 { font-size: 18px; margin: 0; } h2 { font-size: 15px; margin: 20px 20px 8px; }
.muted { color: var(--muted); font-weight: normal; } .small { font-size: 12px; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 999px; font-weight: 600; color: #fff; background: var(--muted); margin-right: 10px; }
.badge.ready, .badge.ok { background: var(--ok); } .badge.not_ready, .badge.down { background: var(--bad); }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap: 12px; padding: 0 20px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; border-top: 4px solid var(--muted); }
.card.healthy { border-top-color: var(--ok); } .card.unhealthy { border-top-color: var(--bad); }
.card h3 { margin: 0 0 6px; font-size: 15px; display: flex; justify-content: space-between; }
.big { font-size: 28px; font-weight: 700; }
.row { display: flex; justify-content: space-between; color: var(--muted); }
.row b { color: var(--fg); font-weight: 600; }
.spark { display: flex; align-items: flex-end; gap: 1px; height: 36px; margin: 8px 0 4px; }
.spark span { flex: 1; background: #54aeff; min-height: 1px; }
.spark span.err { background: var(--bad); }
table { width: calc(100% - 40px); margin: 0 20px; border-collapse: collapse; background: var(--card); border: 1px solid var(--line); }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); font-variant-numeric: tabular-nums; white-space: nowrap; }
td.path { max-width: 320px; overflow: hidden; text-overflow: ellipsis; }
.s2 { color: var(--ok); } .s3 { color: var(--warn); } .s4 { color: var(--warn); font-weight: 600; } .s5 { color: var(--bad); font-weight: 700; }
#login { padding: 20px; } .error { color: var(--bad); }
footer { padding: 16px 20px; }
`;

export const STATUS_JS = `'use strict';
(() => {
  const KEY = 'etr-admin-token';
  const $ = (id) => document.getElementById(id);
  let timer;

  // A token in the fragment (#token=...) never reaches a server; keep it for this tab and drop it from the URL.
  const frag = new URLSearchParams(location.hash.slice(1));
  if (frag.get('token')) { sessionStorage.setItem(KEY, frag.get('token')); history.replaceState(null, '', location.pathname); }

  function el(tag, cls, text) { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = String(text); return e; }
  function ago(iso) { const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000)); return s < 2 ? 'just now' : s + ' s ago'; }

  function showLogin(msg) {
    clearTimeout(timer);
    $('main').hidden = true; $('login').hidden = false;
    $('login-error').textContent = msg || '';
    $('overall').textContent = 'locked'; $('overall').className = 'badge unknown';
  }

  function card(r, window) {
    const c = el('div', 'card ' + (r.refused ? 'refused' : r.healthy ? 'healthy' : 'unhealthy'));
    if (!r.refused) c.dataset.region = r.name;
    const h = el('h3'); h.append(el('span', '', r.name));
    if (!r.refused) { const b = el('span', 'badge ' + (r.healthy ? 'ok' : 'down'), r.healthy ? 'up' : 'down'); b.dataset.field = 'health'; h.append(b); }
    c.append(h);
    const t = r.traffic || { total: 0, buckets: [], clientErrors: 0, serverErrors: 0, avgMs: null };
    const big = el('div', 'big', t.total); big.dataset.field = 'total'; c.append(big);
    c.append(el('div', 'muted small', 'requests in the last ' + Math.round(window.bucketSeconds * window.buckets / 60) + ' min'));
    const spark = el('div', 'spark'); spark.dataset.field = 'spark';
    const max = Math.max(1, ...t.buckets.map((b) => b.count));
    for (const b of t.buckets) { const s = el('span', b.serverErrors > 0 ? 'err' : ''); s.style.height = Math.round((b.count / max) * 100) + '%'; s.title = b.start + ': ' + b.count; spark.append(s); }
    c.append(spark);
    const last = t.buckets.length ? t.buckets[t.buckets.length - 1].count : 0;
    const rows = [
      ['rate', (last / window.bucketSeconds).toFixed(1) + ' req/s', 'rate'],
      ['avg latency', t.avgMs === null ? '–' : t.avgMs + ' ms', 'avg'],
      ['4xx / 5xx', t.clientErrors + ' / ' + t.serverErrors, 'errors'],
    ];
    if (!r.refused) rows.push(['replica lag', r.lagSeconds === null ? 'n/a' : r.lagSeconds + ' s', 'lag']);
    for (const ch of r.checks) rows.push([ch.kind.replace('_', ' '), (ch.ok ? 'ok' : 'FAIL') + ' · ' + (ch.detail || '') + ' · ' + ch.latencyMs + ' ms', 'check-' + ch.kind]);
    for (const [k, v, f] of rows) { const row = el('div', 'row'); row.append(el('span', '', k)); const b = el('b', '', v); b.dataset.field = f; row.append(b); c.append(row); }
    return c;
  }

  function render(d) {
    $('login').hidden = true; $('main').hidden = false;
    $('overall').textContent = d.readiness.status === 'ready' ? 'all ready' : 'not ready';
    $('overall').className = 'badge ' + d.readiness.status;
    $('updated').textContent = new Date(d.generatedAt).toLocaleTimeString();
    $('updated').dataset.at = d.generatedAt;
    $('window').textContent = 'last ' + Math.round(d.window.bucketSeconds * d.window.buckets / 60) + ' min, ' + d.window.bucketSeconds + ' s buckets';
    const cards = d.regions.map((r) => card(r, d.window));
    if (d.refused) cards.push(card({ name: 'refused before routing', refused: true, healthy: true, checks: [], lagSeconds: null, traffic: d.refused }, d.window));
    $('regions').replaceChildren(...cards);
    const rows = d.decisions.map((x) => {
      const tr = el('tr');
      tr.append(el('td', '', new Date(x.at).toLocaleTimeString()), el('td', '', x.method), el('td', 'path', x.path), el('td', '', x.tenant || '–'),
        el('td', '', x.upstream ? x.upstream + (x.target && x.target !== 'primary' ? ' (' + x.target + ')' : '') : (x.errorCode ? 'refused' : '–')), el('td', 's' + String(x.status)[0], x.status + (x.errorCode ? ' ' + x.errorCode : '')), el('td', '', x.totalMs));
      return tr;
    });
    $('decisions').tBodies[0].replaceChildren(...rows);
    const limited = (d.limitedTenants || []).map((x) => {
      const tr = el('tr');
      tr.dataset.tenant = x.tenant;
      tr.append(el('td', '', x.tenant), el('td', '', x.rateLimited), el('td', '', x.busy), el('td', '', ago(x.lastAt)));
      return tr;
    });
    if (limited.length === 0) { const tr = el('tr'); const td = el('td', 'muted', 'none in the window'); td.colSpan = 4; tr.append(td); limited.push(tr); }
    $('limited').tBodies[0].replaceChildren(...limited);
    $('scope').textContent = 'Numbers are this gateway isolate\\'s (first request ' + (d.isolate.startedAt ? ago(d.isolate.startedAt) : 'now') + ', ' + d.isolate.served + ' requests served); fleet-wide metrics are in Analytics Engine. Readiness checked ' + ago(d.readiness.checkedAt) + '.';
  }

  async function poll() {
    const token = sessionStorage.getItem(KEY);
    if (!token) return showLogin();
    let next = 2000;
    try {
      const res = await fetch('/admin/status.json', { headers: { authorization: 'Bearer ' + token }, cache: 'no-store' });
      if (res.status === 401 || res.status === 403) { sessionStorage.removeItem(KEY); return showLogin(res.status === 401 ? 'The token was refused.' : 'This token has no admin role.'); }
      if (!res.ok) throw new Error('status ' + res.status);
      const d = await res.json();
      next = d.pollMs || next;
      render(d);
    } catch (e) {
      $('overall').textContent = 'gateway unreachable'; $('overall').className = 'badge not_ready';
    }
    timer = setTimeout(poll, next);
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('login-form').addEventListener('submit', (ev) => { ev.preventDefault(); const v = $('token').value.trim(); if (v) { sessionStorage.setItem(KEY, v); $('token').value = ''; poll(); } });
    poll();
  });
})();
`;
