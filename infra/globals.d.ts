// Global types for the Node side (infra/, test/e2e/), as the DOM lib would give them
// (that lib is not used: it clashes with @types/node over WebCrypto buffer types).

// WebCrypto's key type; src/identity-assertion names it as a global, as Workers do.
type CryptoKey = import('node:crypto').webcrypto.CryptoKey;

// @types/node types Response.json() as Promise<unknown>; tests read many JSON bodies.
interface Response {
  json(): Promise<any>;
}
