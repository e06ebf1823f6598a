/** How long to wait before the next connection. */
export interface BackoffOptions {
  /** The reconnection time: the server's last `retry:` (ms). */
  retry: number;
  /** The longest wait after errors, before jitter (ms). */
  max: number;
  /** The jitter, as a fraction of the wait added at random: 0.5 waits d to 1.5 d. */
  jitter: number;
  random: () => number;
}

/**
 * reconnectDelay is the wait before a new connection after `failures`
 * failed attempts in a row: the reconnection time after a clean end
 * (failures = 0), doubled after each failure up to max (or the
 * reconnection time, if that is longer), plus jitter so that
 * clients dropped together do not come back together.
 */
export function reconnectDelay(failures: number, o: BackoffOptions): number {
  // The server's own retry is waited for even when it is above max.
  const cap = Math.max(o.max, o.retry);
  const d = Math.max(Math.min(cap, o.retry * 2 ** Math.min(failures, 30)), 0);
  return Math.round(d + d * o.jitter * o.random());
}
