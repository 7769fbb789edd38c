import { describe, expect, it } from 'vitest';
import { redactDetail, redactPath } from './record.ts';

describe('redaction of free text that reaches a log line', () => {
  const jwt = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl';

  it('removes JWTs, bearer/basic credentials and URL passwords from details', () => {
    const d = redactDetail(`GET /x/${jwt} with Bearer abc.def-ghi and basic dXNlcjpwdw== to postgres://app:s3cret@db:5432/x`)!;
    expect(d).not.toContain(jwt);
    expect(d).not.toContain('abc.def-ghi');
    expect(d).not.toContain('dXNlcjpwdw==');
    expect(d).not.toContain('s3cret');
    expect(d).toContain('postgres://app:[redacted]@db:5432/x');
  });

  it('bounds length', () => {
    expect(redactDetail('x'.repeat(1000))!.length).toBeLessThanOrEqual(301);
    expect(redactPath(`/a/${'b'.repeat(1000)}`).length).toBeLessThanOrEqual(257);
  });

  it('keeps ordinary paths and removes tokens from paths', () => {
    expect(redactPath('/api/pages/0192f1c2-7a1b-7c3d-8e4f-5a6b7c8d9e0f')).toBe('/api/pages/0192f1c2-7a1b-7c3d-8e4f-5a6b7c8d9e0f');
    expect(redactPath(`/api/${jwt}/x`)).toBe('/api/[redacted-jwt]/x');
  });
});
