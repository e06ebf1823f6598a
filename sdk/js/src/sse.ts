/** One event dispatched by an event stream (the fields of a MessageEvent). */
export interface SSEMessage {
  /** The event type: the `event:` field, or "message". */
  type: string;
  /** The `data:` lines joined with "\n". */
  data: string;
  /** The last event ID at dispatch: the last `id:` seen on this stream. */
  lastEventId: string;
}

/**
 * EventStreamParser reads `text/event-stream` as the WHATWG HTML standard's
 * "event stream interpretation" says: lines end with CRLF, LF or CR (also
 * when a CRLF is split between two chunks); one leading byte order mark is
 * ignored; `:` starts a comment; a field's value loses one leading space;
 * `data` lines are joined with LF; `id` sets the last event ID unless it
 * holds a NUL; `retry` counts only when it is all ASCII digits; unknown
 * fields are ignored; a blank line dispatches the event, and an event with
 * no data is not dispatched (its `id` still counts); whatever is pending
 * when the stream ends is dropped.
 *
 * It takes decoded text: decode the bytes as UTF-8 with a decoder that
 * keeps the BOM (`new TextDecoder("utf-8", { ignoreBOM: true })`) so that
 * only one is ignored, by the parser.
 */
export class EventStreamParser {
  /** The last event ID, as set by the last dispatch (or the constructor). */
  lastEventId: string;
  private line = "";
  private data = "";
  private type = "";
  private idBuffer: string;
  private started = false;
  private afterCR = false;

  constructor(
    private readonly onMessage: (m: SSEMessage) => void,
    private readonly onRetry?: (ms: number) => void,
    lastEventId = "",
  ) {
    this.lastEventId = lastEventId;
    this.idBuffer = lastEventId;
  }

  /** Feeds the next piece of the stream. */
  push(chunk: string): void {
    if (!this.started) {
      if (chunk === "") return;
      this.started = true;
      if (chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
    }
    let start = 0;
    if (this.afterCR && chunk.charCodeAt(0) === 10) start = 1; // the LF of a split CRLF
    this.afterCR = false;
    const n = chunk.length;
    for (let i = start; i < n; i++) {
      const c = chunk.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      const line = this.line + chunk.slice(start, i);
      this.line = "";
      if (c === 13) {
        if (i + 1 === n) this.afterCR = true;
        else if (chunk.charCodeAt(i + 1) === 10) i++;
      }
      start = i + 1;
      this.processLine(line);
    }
    if (start < n) this.line += chunk.slice(start);
  }

  /** Ends the stream: an event not closed by a blank line is dropped. */
  end(): void {
    this.line = "";
    this.data = "";
    this.type = "";
    this.afterCR = false;
  }

  private processLine(line: string): void {
    if (line === "") {
      this.dispatch();
      return;
    }
    const colon = line.indexOf(":");
    if (colon === 0) return; // a comment
    let field = line;
    let value = "";
    if (colon > 0) {
      field = line.slice(0, colon);
      value = line.slice(line.charCodeAt(colon + 1) === 32 ? colon + 2 : colon + 1);
    }
    switch (field) {
      case "event":
        this.type = value;
        break;
      case "data":
        this.data += value + "\n";
        break;
      case "id":
        if (value.indexOf("\0") === -1) this.idBuffer = value;
        break;
      case "retry":
        if (/^[0-9]+$/.test(value)) this.onRetry?.(parseInt(value, 10));
        break;
    }
  }

  private dispatch(): void {
    this.lastEventId = this.idBuffer;
    if (this.data === "") {
      this.type = "";
      return;
    }
    const m: SSEMessage = {
      type: this.type || "message",
      data: this.data.slice(0, -1),
      lastEventId: this.lastEventId,
    };
    this.data = "";
    this.type = "";
    this.onMessage(m);
  }
}
