import { describe, expect, it } from 'vitest';
import { MAX_REMEMBERED_HEADER_NAMES, outboundRequestHeaders, rewriteResponseHeaders, stripRequestHeaders } from './headers.ts';

const names = (h: Headers) => [...new Set(h.keys())].sort();

describe('request headers: one pass, rules remembered per name', () => {
  it('drops identity, forwarding and hop-by-hop headers in any spelling and keeps the rest intact', () => {
    const incoming = new Headers([
      ['X_Tenant_Id', 'evil'],
      ['x-forwarded-for', '1.2.3.4'],
      ['X-REAL-IP', '1.2.3.4'],
      ['keep-alive', 'timeout=5'],
      ['connection', 'x-custom-hop, X_Other_Hop'],
      ['x-custom-hop', '1'],
      ['x-other-hop', '1'],
      ['accept', 'application/json'],
      ['x-app-flag', 'a, b'],
      ['authorization', 'Bearer t'],
    ]);
    const out = outboundRequestHeaders(incoming, { forwardAuthorization: false });
    expect(names(out)).toEqual(['accept', 'x-app-flag']);
    expect(out.get('x-app-flag')).toBe('a, b');
    // The incoming headers are not touched (the copy is stripped).
    expect(incoming.get('x-forwarded-for')).toBe('1.2.3.4');
  });

  it('decides Authorization per call, not by what was remembered for the name', () => {
    const h = () => new Headers({ authorization: 'Bearer t', accept: '*/*' });
    expect(outboundRequestHeaders(h(), { forwardAuthorization: false }).has('authorization')).toBe(false);
    expect(outboundRequestHeaders(h(), { forwardAuthorization: true }).get('authorization')).toBe('Bearer t');
    expect(outboundRequestHeaders(h(), { forwardAuthorization: false }).has('authorization')).toBe(false);
  });

  it('a Connection-named header is dropped only where Connection names it', () => {
    expect(stripRequestHeaders(new Headers({ connection: 'x-a', 'x-a': '1', 'x-b': '1' }), { forwardAuthorization: false }).has('x-a')).toBe(false);
    expect(stripRequestHeaders(new Headers({ 'x-a': '1' }), { forwardAuthorization: false }).get('x-a')).toBe('1');
    // Names before and after `connection` in iteration order, in any case or spelling.
    const h = stripRequestHeaders(new Headers({ connection: 'ACCEPT, x_z_hop, x-forwarded-for', accept: '*/*', 'x-z-hop': '1', 'x-b': '1' }), { forwardAuthorization: false });
    expect(names(h)).toEqual(['x-b']);
  });

  it('drops the names the caller replaces in the same pass, and only those', () => {
    const h = new Headers({ traceparent: '00-x', tracestate: 'a=1', 'x-b': '1' });
    expect(names(stripRequestHeaders(h, { forwardAuthorization: false, replaced: new Set(['traceparent', 'tracestate']) }))).toEqual(['x-b']);
    expect(names(stripRequestHeaders(new Headers({ traceparent: '00-x', 'x-b': '1' }), { forwardAuthorization: false }))).toEqual(['traceparent', 'x-b']);
  });

  it('keeps classifying correctly once the memo is full (names past the bound are judged each time)', () => {
    const junk = new Headers();
    for (let i = 0; i < MAX_REMEMBERED_HEADER_NAMES + 50; i++) junk.set(`x-junk-${i}`, '1');
    expect(names(outboundRequestHeaders(junk, { forwardAuthorization: false }))).toHaveLength(MAX_REMEMBERED_HEADER_NAMES + 50);
    const late = new Headers({ 'x-forwarded-host': 'evil', x_user_id: 'evil', 'x-late-but-fine': '1', ['x-' + 'long'.repeat(40)]: '1' });
    expect(names(outboundRequestHeaders(late, { forwardAuthorization: false }))).toEqual(['x-late-but-fine', 'x-' + 'long'.repeat(40)]);
  });
});

describe('response headers: rewritten in place', () => {
  const ctx = { upstreamOrigins: ['http://eu.internal:8080', 'http://eu-standby.internal:8080'], publicHost: 'api.example.com' };

  it('drops fingerprints and hop-by-hop headers, keeps each allowed Set-Cookie on its own', () => {
    const h = new Headers([
      ['server', 'nginx'],
      ['x-powered-by', 'php'],
      ['connection', 'x-hop'],
      ['x-hop', '1'],
      ['content-type', 'application/json'],
      ['set-cookie', 'a=1; Path=/'],
      ['set-cookie', 'b=2; Domain=example.com'],
      ['set-cookie', 'c=3; Domain=evil.test'],
    ]);
    rewriteResponseHeaders(h, ctx);
    expect(names(h)).toEqual(['content-type', 'set-cookie']);
    expect(h.getSetCookie()).toEqual(['a=1; Path=/', 'b=2; Domain=example.com']);
  });

  it('drops what Connection names (a Location too, which is then not rewritten), but never a Set-Cookie', () => {
    const h = new Headers([
      ['connection', 'Location, set-cookie, X_Hop, content-type'],
      ['location', 'http://eu.internal:8080/api/x'],
      ['x-hop', '1'],
      ['content-type', 'text/plain'],
      ['cache-control', 'no-store'],
      ['set-cookie', 'a=1; Path=/'],
    ]);
    rewriteResponseHeaders(h, ctx);
    expect(names(h)).toEqual(['cache-control', 'set-cookie']);
    expect(h.getSetCookie()).toEqual(['a=1; Path=/']);
  });

  it('rewrites a Location into the upstream that answered (a standby too) and drops any other', () => {
    const at = (location: string) => rewriteResponseHeaders(new Headers({ location }), ctx).get('location');
    expect(at('http://eu.internal:8080/api/pages/1?x=1')).toBe('/api/pages/1?x=1');
    expect(at('http://eu-standby.internal:8080/api/next')).toBe('/api/next');
    expect(at('/relative')).toBe('/relative');
    expect(at('http://other-region.internal/api')).toBeNull();
    expect(at('https://evil.test/')).toBeNull();
  });

  it('leaves a response without Location or Set-Cookie as it was, minus the dropped names', () => {
    const h = new Headers({ 'content-type': 'text/plain', 'cache-control': 'no-store', server: 'x' });
    rewriteResponseHeaders(h, ctx);
    expect([...h]).toEqual([
      ['cache-control', 'no-store'],
      ['content-type', 'text/plain'],
    ]);
  });
});
