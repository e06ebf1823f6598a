import { describe, expect, it } from "vitest";
import { EventStreamParser, type SSEMessage } from "../src/sse.js";

interface Case {
  name: string;
  chunks: string[];
  want: Array<Partial<SSEMessage>>;
  retries?: number[];
  lastEventId?: string;
  initialId?: string;
}

const cases: Case[] = [
  { name: "one event", chunks: ["data: hi\n\n"], want: [{ type: "message", data: "hi", lastEventId: "" }] },
  { name: "named event with id", chunks: ["id: 7\nevent: invoice.paid\ndata: {}\n\n"], want: [{ type: "invoice.paid", data: "{}", lastEventId: "7" }] },
  { name: "data lines joined with LF", chunks: ["data: a\ndata: b\ndata\n\n"], want: [{ data: "a\nb\n" }] },
  { name: "empty data dispatches an empty string", chunks: ["data\n\n", "data:\n\n"], want: [{ data: "" }, { data: "" }] },
  { name: "only one leading space is removed", chunks: ["data:  two\n\ndata:none\n\n"], want: [{ data: " two" }, { data: "none" }] },
  { name: "CRLF line ends", chunks: ["id: 1\r\ndata: x\r\n\r\n"], want: [{ data: "x", lastEventId: "1" }] },
  { name: "CR line ends", chunks: ["data: x\rdata: y\r\r"], want: [{ data: "x\ny" }] },
  { name: "CRLF split between chunks", chunks: ["data: x\r", "\ndata: y\r", "\n\r", "\n"], want: [{ data: "x\ny" }] },
  { name: "CR then CR is a blank line", chunks: ["data: x\r", "\r"], want: [{ data: "x" }] },
  { name: "field split between chunks", chunks: ["da", "ta: he", "llo\n", "\n"], want: [{ data: "hello" }] },
  { name: "leading BOM ignored", chunks: ["\uFEFFdata: x\n\n"], want: [{ data: "x" }] },
  { name: "BOM alone in the first chunk", chunks: ["\uFEFF", "data: x\n\n"], want: [{ data: "x" }] },
  { name: "only one BOM ignored", chunks: ["\uFEFF\uFEFFdata: x\n\ndata: y\n\n"], want: [{ data: "y" }] },
  { name: "BOM later is data", chunks: ["data: \uFEFFx\n\n"], want: [{ data: "\uFEFFx" }] },
  { name: "comments ignored", chunks: [": keep-alive\n\n:x\ndata: y\n\n"], want: [{ data: "y" }] },
  { name: "unknown fields ignored", chunks: ["foo: bar\ndata: y\nbaz\n\n"], want: [{ data: "y" }] },
  { name: "field names are case-sensitive", chunks: ["Data: y\nDATA: z\n\n"], want: [] },
  { name: "no data: no event, but the id counts", chunks: ["id: 5\n\n", "event: x\n\ndata: y\n\n"], want: [{ type: "message", data: "y", lastEventId: "5" }], lastEventId: "5" },
  { name: "id persists across events", chunks: ["id: 1\ndata: a\n\ndata: b\n\n"], want: [{ lastEventId: "1" }, { lastEventId: "1" }] },
  { name: "id with NUL ignored", chunks: ["id: 1\n\nid: 2\0x\ndata: a\n\n"], want: [{ lastEventId: "1" }] },
  { name: "empty id resets", chunks: ["id: 1\ndata: a\n\nid\ndata: b\n\n"], want: [{ lastEventId: "1" }, { lastEventId: "" }] },
  { name: "initial id is kept until set", chunks: ["data: a\n\n"], initialId: "42", want: [{ lastEventId: "42" }] },
  { name: "event type resets after dispatch", chunks: ["event: a\ndata: 1\n\ndata: 2\n\n"], want: [{ type: "a" }, { type: "message" }] },
  { name: "retry digits only", chunks: ["retry: 3000\nretry: 12a\nretry: -1\nretry:\nretry:  5\nretry: 0\n\n"], want: [], retries: [3000, 0] },
  { name: "unterminated event dropped", chunks: ["data: a\n\ndata: b\n"], want: [{ data: "a" }] },
  { name: "colon in value", chunks: ['data: {"a":"b:c"}\n\n'], want: [{ data: '{"a":"b:c"}' }] },
  { name: "empty chunks", chunks: ["", "data: a", "", "\n", "", "\n"], want: [{ data: "a" }] },
  { name: "one character at a time", chunks: [..."id: 9\r\nevent: e\r\ndata: x\r\n\r\n"], want: [{ type: "e", data: "x", lastEventId: "9" }] },
];

describe("EventStreamParser", () => {
  for (const c of cases) {
    it(c.name, () => {
      const got: SSEMessage[] = [];
      const retries: number[] = [];
      const p = new EventStreamParser((m) => got.push(m), (ms) => retries.push(ms), c.initialId);
      for (const chunk of c.chunks) p.push(chunk);
      p.end();
      expect(got.length, JSON.stringify(got)).toBe(c.want.length);
      c.want.forEach((w, i) => expect(got[i]).toMatchObject(w));
      expect(retries).toEqual(c.retries ?? []);
      if (c.lastEventId !== undefined) expect(p.lastEventId).toBe(c.lastEventId);
    });
  }
});
