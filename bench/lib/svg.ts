/** Hand-written SVG bar charts (no dependencies). */
import type { TargetResult } from '../forwarding.ts';
import type { GeoRow } from '../geo.ts';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const FONT = 'font-family="system-ui,-apple-system,Segoe UI,sans-serif"';
const COLORS: Record<string, string> = {
  passthrough: '#9aa0a6',
  gateway: '#f48120',
  'gateway-nocache': '#fbb774',
  'hono-jose': '#4285f4',
  haproxy: '#34a853',
};

interface Panel {
  title: string;
  unit: string;
  values: Array<{ key: string; label: string; value: number }>;
  digits: number;
}

function panel(p: Panel, x: number, y: number, w: number): string {
  const rowH = 26;
  const labelW = 300;
  const max = Math.max(...p.values.map((v) => v.value)) * 1.3 || 1;
  const barW = w - labelW - 20;
  const out = [`<text x="${x}" y="${y}" ${FONT} font-size="15" font-weight="600">${esc(p.title)}</text>`];
  p.values.forEach((v, i) => {
    const yy = y + 14 + i * rowH;
    const len = Math.max(1, (v.value / max) * barW);
    out.push(`<text x="${x + labelW - 8}" y="${yy + 15}" ${FONT} font-size="12" text-anchor="end">${esc(v.label)}</text>`);
    out.push(`<rect x="${x + labelW}" y="${yy + 3}" width="${len.toFixed(1)}" height="${rowH - 8}" fill="${COLORS[v.key] ?? '#888'}" rx="2"/>`);
    out.push(`<text x="${x + labelW + len + 6}" y="${yy + 15}" ${FONT} font-size="12">${v.value.toFixed(p.digits)} ${esc(p.unit)}</text>`);
  });
  return out.join('\n');
}

export function forwardingChart(rs: TargetResult[], machine: string): string {
  const w = 820;
  const panelH = 26 * rs.length + 40;
  const panels: Panel[] = [
    { title: 'Throughput at saturation (higher is better)', unit: 'req/s', digits: 0, values: rs.map((r) => ({ key: r.name, label: r.label, value: r.rps })) },
    { title: 'Requests per second of server CPU at saturation (higher is better; robust to other load)', unit: 'req/CPU-s', digits: 0, values: rs.map((r) => ({ key: r.name, label: r.label, value: r.reqPerCpuSecond })) },
    { title: 'p50 latency at a fixed rate (lower is better)', unit: 'ms', digits: 3, values: rs.map((r) => ({ key: r.name, label: r.label, value: r.p50_us / 1000 })) },
    { title: 'p99 latency at a fixed rate (lower is better)', unit: 'ms', digits: 3, values: rs.map((r) => ({ key: r.name, label: r.label, value: r.p99_us / 1000 })) },
    { title: 'Server CPU per request (lower is better)', unit: 'µs', digits: 0, values: rs.map((r) => ({ key: r.name, label: r.label, value: r.cpuUsPerRequest })) },
  ];
  const h = 40 + panels.length * panelH + 30;
  const body = panels.map((p, i) => panel(p, 16, 50 + i * panelH, w - 32)).join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">
<rect width="100%" height="100%" fill="#fff"/>
<text x="16" y="26" ${FONT} font-size="17" font-weight="700">Forwarding path: gateway vs pass-through and peers (medians, npm run bench)</text>
${body}
<text x="16" y="${h - 10}" ${FONT} font-size="11" fill="#555">${esc(machine)}</text>
</svg>
`;
}

export function geoChart(rows: GeoRow[]): string {
  const w = 820;
  const groupH = 4 * 24 + 30;
  const h = 60 + rows.length * groupH + 30;
  const labelW = 230;
  const max = Math.max(...rows.map((r) => r.centralMs)) * 1.12 || 1;
  const barW = w - labelW - 100;
  const bars = [
    { key: 'centralMs' as const, label: '(a) all data in us-east-1', color: '#9aa0a6' },
    { key: 'gatewayMs' as const, label: '(b) via this gateway', color: '#f48120' },
    { key: 'passthroughMs' as const, label: '(b0) via a bare pass-through Worker', color: '#fbb774' },
    { key: 'directMs' as const, label: '(c) direct to own region', color: '#34a853' },
  ];
  const out: string[] = [];
  rows.forEach((r, g) => {
    const y0 = 60 + g * groupH;
    out.push(`<text x="16" y="${y0}" ${FONT} font-size="14" font-weight="600">${esc(`Client in ${r.client}, tenant in ${r.region}`)}</text>`);
    bars.forEach((b, i) => {
      const y = y0 + 8 + i * 24;
      const v = r[b.key];
      const len = Math.max(1, (v / max) * barW);
      out.push(`<text x="${16 + labelW - 8}" y="${y + 14}" ${FONT} font-size="12" text-anchor="end">${esc(b.label)}</text>`);
      out.push(`<rect x="${16 + labelW}" y="${y + 2}" width="${len.toFixed(1)}" height="16" fill="${b.color}" rx="2"/>`);
      out.push(`<text x="${16 + labelW + len + 6}" y="${y + 14}" ${FONT} font-size="12">${v.toFixed(1)} ms</text>`);
    });
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">
<rect width="100%" height="100%" fill="#fff"/>
<text x="16" y="28" ${FONT} font-size="17" font-weight="700">Page load with five sequential round trips to the tenant's data (median)</text>
${out.join('\n')}
<text x="16" y="${h - 10}" ${FONT} font-size="11" fill="#555">Simulated RTTs via latency proxies (npm run bench); the gateway runs in workerd.</text>
</svg>
`;
}

/** The direct path's round trips on the edge ↔ region link (bench/db-roundtrips.ts), one panel per database. */
export function directChart(rows: Array<Record<string, string | number>>, note: string): string {
  const w = 820;
  const dbs = [...new Set(rows.map((r) => String(r.db)))];
  const colour = (design: string) => (design.startsWith('(i)') ? 'gateway-nocache' : design.startsWith('(ii)') ? 'gateway' : 'haproxy');
  const panels: Panel[] = dbs.map((db) => ({
    title: `Round trips per request over the long link (${db}; lower is better)`,
    unit: 'RT',
    digits: 2,
    values: rows.filter((r) => r.db === db).map((r) => ({ key: colour(String(r.design)), label: `${r.design}: ${r.request}`.replace(/\/data\/pages\/:id|\/api\/pages\/:id/, ':id'), value: Number(r['round trips']) })),
  }));
  const panelH = 26 * Math.max(...panels.map((p) => p.values.length)) + 40;
  const h = 40 + panels.length * panelH + 30;
  const body = panels.map((p, i) => panel(p, 16, 50 + i * panelH, w - 32)).join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">
<rect width="100%" height="100%" fill="#fff"/>
<text x="16" y="26" ${FONT} font-size="17" font-weight="700">Direct path: connection setup counted (npm run bench:db)</text>
${body}
<text x="16" y="${h - 10}" ${FONT} font-size="11" fill="#555">${esc(note)}</text>
</svg>
`;
}
