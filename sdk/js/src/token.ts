/**
 * Asks the application for a user token (a JWT for Herald). `refresh` is
 * true when the last one was refused (401) or expired (`token-expired`):
 * return a new one then, not a cached copy of the old one.
 */
export type GetToken = (request: { refresh: boolean }) => Promise<string>;

/**
 * TokenSource keeps the current token of one user, shared by the REST calls
 * and the stream, so that a refresh asked for by one is seen by all and
 * concurrent callers ask the application once.
 */
export class TokenSource {
  private pending: Promise<string> | undefined;

  constructor(private readonly getToken: GetToken) {}

  /** Returns the current token, asking the application for one if there is none. */
  get(): Promise<string> {
    return (this.pending ??= this.ask(false));
  }

  /**
   * Drops `stale` and returns a fresh token. When the current token is
   * already another one (someone else refreshed meanwhile), that one is
   * returned without asking again.
   */
  async refresh(stale: string | undefined): Promise<string> {
    const current = this.pending;
    if (current) {
      const token = await current.catch(() => undefined);
      if (this.pending !== current) return this.refresh(stale);
      if (token !== undefined && token !== stale) return token;
    }
    this.pending = this.ask(true);
    return this.pending;
  }

  private ask(refresh: boolean): Promise<string> {
    const p = Promise.resolve()
      .then(() => this.getToken({ refresh }))
      .then((token) => {
        if (typeof token !== "string" || token === "") throw new Error("herald: getToken returned no token");
        return token;
      });
    // A failed request is not kept: the next caller asks again.
    p.catch(() => {
      if (this.pending === p) this.pending = undefined;
    });
    return p;
  }
}
