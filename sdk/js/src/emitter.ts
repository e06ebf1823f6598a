/**
 * Emitter calls its listeners in the order they subscribed. A listener that
 * throws does not stop the others: its error is rethrown on its own, where
 * the page's error handling sees it.
 */
export class Emitter<T> {
  private readonly listeners = new Set<(value: T) => void>();

  /** Adds a listener; returns a function that removes it. */
  on(listener: (value: T) => void): () => void {
    const fn = (value: T) => listener(value); // the same function may subscribe twice
    this.listeners.add(fn);
    return () => {
      this.listeners.delete(fn);
    };
  }

  emit(value: T): void {
    for (const fn of [...this.listeners]) {
      try {
        fn(value);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  get size(): number {
    return this.listeners.size;
  }
}
