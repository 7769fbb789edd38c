/**
 * A FIFO lock with an owner. PGlite is one Postgres backend (one session) shared
 * by every user of it, so whoever is mid-transaction or mid-extended-protocol
 * exchange must own it until the session is idle again; the owner may re-enter.
 */
export class SessionLock {
  #owner: symbol | null = null;
  #waiting: Array<{ owner: symbol; grant: () => void }> = [];

  get owner(): symbol | null {
    return this.#owner;
  }

  async acquire(owner: symbol): Promise<void> {
    if (this.#owner === owner) return;
    if (this.#owner === null) {
      this.#owner = owner;
      return;
    }
    await new Promise<void>((grant) => this.#waiting.push({ owner, grant }));
  }

  release(owner: symbol): void {
    if (this.#owner !== owner) return;
    const next = this.#waiting.shift();
    this.#owner = next ? next.owner : null;
    next?.grant();
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    const owner = Symbol('session-lock');
    await this.acquire(owner);
    try {
      return await fn();
    } finally {
      this.release(owner);
    }
  }
}
