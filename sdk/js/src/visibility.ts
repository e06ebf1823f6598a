/** Tells whether the page is hidden, and when that changes. */
export interface VisibilitySource {
  hidden(): boolean;
  /** Calls listener on every change; returns a function that stops it. */
  subscribe(listener: () => void): () => void;
}

/** The page's visibility (`document.visibilityState`), or undefined outside a page. */
export function documentVisibility(): VisibilitySource | undefined {
  const doc = (globalThis as { document?: Document }).document;
  if (!doc || typeof doc.addEventListener !== "function") return undefined;
  return {
    hidden: () => doc.visibilityState === "hidden",
    subscribe(listener) {
      doc.addEventListener("visibilitychange", listener);
      return () => doc.removeEventListener("visibilitychange", listener);
    },
  };
}
