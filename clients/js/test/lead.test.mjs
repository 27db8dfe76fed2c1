// The client's lead mode (jitter buffer) against a scripted socket: what it hands to listeners, and when.
import { test } from "node:test";
import assert from "node:assert/strict";
import { TivoClient } from "../tivo.js";

const clock = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A WebSocket stand-in: records the URL, says hello, and lets the test push server messages. */
class ScriptedSocket {
  static last = null;
  constructor(url) {
    this.url = url;
    this.readyState = 1;
    this.sent = [];
    ScriptedSocket.last = this;
    setTimeout(() => {
      this.onopen?.();
      this.push({ type: "hello", protocol: 1, session: "s-test", channels: ["c"], role: "controller", state: { status: "idle", playhead: null, speed: 1 } });
    });
  }
  send(text) { this.sent.push(JSON.parse(text)); }
  close() { this.readyState = 3; }
  /** A batch goes with its layout, as the gateway writes it, unless `layout: false` (a gateway before layouts). */
  push(message, { layout = true } = {}) { this.deliver(message.type === "batch" && layout ? batchText(message) : JSON.stringify(message)); }
  /** One text frame, as a browser's WebSocket hands it over. */
  deliver(text) { this.onmessage({ data: text }); }
}

/** A socket shaped as the `ws` package's (Node.js): frames handed to `on("message")` listeners as Buffers of their bytes. */
class BufferSocket extends ScriptedSocket {
  binaryType = "nodebuffer";
  listeners = [];
  on(type, listener) {
    if (type === "message") this.listeners.push(listener);
    return this;
  }
  deliver(text) {
    assert.equal(this.onmessage, undefined, "frames are taken as the Buffers `ws` hands over, not through onmessage");
    for (const listener of this.listeners) listener(Buffer.from(text), false);
  }
}

/** A batch frame as the gateway writes it: its messages, then its layout — the highest event seq, and parts (messages due
 * within 64 ms of the first of them) as [earliest due, first byte, end byte, messages] in the frame's UTF-8 bytes. */
function batchText({ now, messages }) {
  const utf8 = new TextEncoder();
  let text = `{"type":"batch","now":${now},"messages":[`;
  let bytes = utf8.encode(text).length;
  const parts = [];
  let lastSeq = -1;
  messages.forEach((m, i) => {
    const json = (i > 0 ? "," : "") + JSON.stringify(m);
    const from = bytes + (i > 0 ? 1 : 0);
    text += json;
    bytes += utf8.encode(json).length;
    if (m.type === "event" && !m.snapshot && m.seq > lastSeq) lastSeq = m.seq;
    const part = parts.at(-1);
    if (part && m.due - part[0] < 64 && m.due >= part[0]) {
      part[2] = bytes;
      part[3]++;
    } else parts.push([m.due, from, bytes, 1]);
  });
  return `${text}],"layout":${JSON.stringify(lastSeq >= 0 ? { lastSeq, parts } : { parts })}}`;
}

async function connected(options = {}) {
  const client = new TivoClient("ws://tivo.test", { WebSocket: ScriptedSocket, reconnect: false, ...options });
  await client.connect();
  return { client, socket: ScriptedSocket.last };
}

function record(client) {
  const released = [];
  for (const type of ["event", "clock", "state"]) client.on(type, (m) => released.push({ type, m, at: clock() }));
  return released;
}

const event = (seq, due) => ({ type: "event", channel: "c", ts: "2016-01-15T00:00:00Z", seq, due, data: { seq } });

test("lead is asked for in the connect query (500 ms by default; lead: 0 leaves it out)", async () => {
  const { client, socket } = await connected();
  assert.equal(new URL(socket.url).searchParams.get("lead"), "500");
  client.close();
  const plain = await connected({ lead: 0 });
  assert.equal(new URL(plain.socket.url).searchParams.get("lead"), null);
  plain.client.close();
});

test("messages sent ahead are held and handed to listeners at their due, in due order, never early", async () => {
  const { client, socket } = await connected();
  const released = record(client);
  const t = clock();
  socket.push({ type: "batch", now: t, messages: [event(1, t + 30), { type: "clock", playhead: "2016-01-15T00:00:00Z", speed: 1, iteration: 0, due: t + 45 }, event(2, t + 60)] });
  socket.push({ type: "batch", now: clock(), messages: [event(3, t + 15)] }); // a refill: due earlier than what is held
  assert.equal(client.held, 4, "nothing is released before its due");
  assert.equal(client.lastSeq, 3, "seqs count as received on arrival (a reconnect resumes after them)");
  await sleep(150);
  assert.deepEqual(released.map((r) => r.m.seq ?? r.type), [3, 1, "clock", 2]);
  for (const r of released) {
    assert.ok(r.at >= r.m.due - 0.5, `released ${(r.m.due - r.at).toFixed(2)} ms before its due`);
  }
  assert.equal(client.held, 0);
  client.close();
});

test("a recall drops what is held past the cut", async () => {
  const { client, socket } = await connected();
  const released = record(client);
  const t = clock();
  socket.push({ type: "batch", now: t, messages: [event(1, t + 20), event(2, t + 60), event(3, t + 90)] });
  socket.push({ type: "recall", after: t + 40 });
  socket.push({ type: "batch", now: t, messages: [{ type: "state", status: "paused", playhead: "2016-01-15T00:00:00Z", speed: 1, due: t + 40 }] });
  await sleep(150);
  assert.deepEqual(released.map((r) => r.m.seq ?? r.m.status), [1, "paused"]);
  assert.equal(client.state.status, "paused");
  client.close();
});

test("a recall that cuts inside a part releases its messages up to the cut and drops the rest", async () => {
  const { client, socket } = await connected();
  const released = record(client);
  const t = clock();
  // One part (due within 64 ms of its first), not parsed until it falls due, and a part after it.
  socket.push({ type: "batch", now: t, messages: [event(1, t + 20), event(2, t + 25), event(3, t + 30), event(4, t + 90)] });
  assert.equal(client.held, 4);
  socket.push({ type: "recall", after: t + 26 });
  assert.equal(client.held, 2, "the part was parsed at the recall and cut; the part after the cut went whole");
  await sleep(120);
  assert.deepEqual(released.map((r) => r.m.seq), [1, 2]);
  client.close();
});

// Each as a browser hands frames over (text), and as the `ws` package does in Node.js (Buffers of the frame's bytes).
for (const [kind, WebSocket] of [["text frames", ScriptedSocket], ["Buffers, as ws", BufferSocket]]) {
  test(`a frame's messages are parsed part by part as they fall due, not on arrival: what is held is bytes (${kind})`, async () => {
    const { client, socket } = await connected({ WebSocket });
    const released = record(client);
    const t = clock();
    const parsed = [];
    const realParse = JSON.parse;
    JSON.parse = (text, ...rest) => {
      parsed.push({ text: String(text), at: clock() });
      return realParse(text, ...rest);
    };
    try {
      socket.push({ type: "batch", now: t, messages: [event(1, t + 30), event(2, t + 35), event(3, t + 100)].map((m) => ({ ...m, data: { marker: `payload-${m.seq}` } })) });
      assert.ok(!parsed.some((p) => p.text.includes("payload-")), "no message was parsed on arrival");
      await sleep(150);
    } finally {
      JSON.parse = realParse;
    }
    assert.deepEqual(released.map((r) => r.m.seq), [1, 2, 3]);
    const parts = parsed.filter((p) => p.text.includes("payload-"));
    assert.equal(parts.length, 2, "one parse per part: seqs 1 and 2 (5 ms apart), then seq 3");
    assert.ok(parts[0].text.includes("payload-2") && !parts[0].text.includes("payload-3"));
    assert.ok(parts[0].at >= t + 30 - 1.5 && parts[1].at >= t + 100 - 1.5, "each part parsed when it fell due");
    client.close();
  });

  test(`a layout that does not fit its frame is not trusted: the frame is parsed whole (${kind})`, async () => {
    const { client, socket } = await connected({ WebSocket });
    const released = record(client);
    const t = clock();
    const good = batchText({ now: t, messages: [event(1, t + 20), event(2, t + 30)] });
    const bad = good.replace(/"parts":\[\[([0-9.]+),(\d+),(\d+),2\]\]/, (_, due, from) => `"parts":[[${due},${from},999999,2]]`);
    assert.notEqual(bad, good);
    socket.deliver(bad);
    assert.equal(client.held, 2);
    await sleep(80);
    assert.deepEqual(released.map((r) => r.m.seq), [1, 2]);
    client.close();
  });

  test(`a frame with its layout but its fields in another order is parsed whole, its clock still read (${kind})`, async () => {
    const { client, socket } = await connected({ WebSocket });
    const released = record(client);
    const t = clock();
    const server = t + 10_000; // the server's clock 10 s ahead: releasing by this one's would hold the event 10 s
    const good = batchText({ now: server, messages: [event(1, server + 20)] });
    socket.deliver(good.replace(`{"type":"batch","now":${server},`, `{"type":"batch","v":1,"now":${server},`));
    assert.equal(client.held, 1);
    await sleep(80);
    assert.deepEqual(released.map((r) => r.m.seq), [1]);
    client.close();
  });

  test(`a frame without a layout (a gateway before it) is held parsed and released the same way (${kind})`, async () => {
    const { client, socket } = await connected({ WebSocket });
    const released = record(client);
    const t = clock();
    socket.push({ type: "batch", now: t, messages: [event(1, t + 30), event(2, t + 40)] }, { layout: false });
    socket.push({ type: "batch", now: t, messages: [event(3, t + 35)] }); // with a layout: merged by due with the parsed ones
    assert.equal(client.held, 3);
    assert.equal(client.lastSeq, 3);
    await sleep(120);
    assert.deepEqual(released.map((r) => r.m.seq), [1, 3, 2]);
    for (const r of released) assert.ok(r.at >= r.m.due - 0.5, `seq ${r.m.seq} released ${(r.m.due - r.at).toFixed(2)} ms early`);
    client.close();
  });

  test(`payloads of any characters and shapes come through a frame's byte layout whole (${kind})`, async () => {
    const { client, socket } = await connected({ WebSocket });
    const released = record(client);
    const t = clock();
    const payloads = [
      { city: "Zürich", price: "€ 5", mood: "😀", cjk: "東京" },
      { note: 'quotes " and braces } ] { [ and a backslash \\', nested: [[{ a: [] }], {}] },
      { x: 1, layout: { parts: [[0, 0, 1, 1]] } }, // a key the frame's own layout has: the frame's is the last one
      "a string", 42, null, [],
    ];
    socket.push({ type: "batch", now: t, messages: payloads.map((data, k) => ({ ...event(k + 1, t + 10 + k * 7), data })) });
    await sleep(120);
    assert.deepEqual(released.map((r) => r.m.data), payloads);
    client.close();
  });

  test(`frames of more bytes than a slab holds, many in flight, come out whole and in order (${kind})`, async () => {
    const { client, socket } = await connected({ WebSocket });
    const released = record(client);
    const t = clock();
    const filler = "x".repeat(2000);
    let seq = 0;
    for (let f = 0; f < 60; f++) {
      socket.push({ type: "batch", now: clock(), messages: Array.from({ length: 10 }, () => ({ ...event(++seq, t + 20 + seq * 0.1), data: { seq, filler } })) });
    }
    assert.equal(client.held, 600); // 1.2 MB of frames: more than one 1-MiB slab
    await sleep(150);
    assert.equal(released.length, 600);
    assert.deepEqual(released.map((r) => r.m.data.seq), Array.from({ length: 600 }, (_, k) => k + 1));
    assert.ok(released.every((r) => r.m.data.filler === filler));
    client.close();
  });
}

test("releases by the server's clock, not this one's", async () => {
  const { client, socket } = await connected();
  const released = record(client);
  const t = clock();
  const server = t + 10_000; // the server's clock is 10 s ahead of this machine's
  socket.push({ type: "batch", now: server, messages: [event(1, server + 50)] });
  await sleep(200);
  assert.equal(released.length, 1, "released after ~50 ms, not 10 s");
  const after = released[0].at - t;
  assert.ok(after >= 49.5, `released ${after.toFixed(1)} ms after it arrived, before its due by the server's clock`);
  client.close();
});

test("follows a server clock stepped back, within its clock window; a frame slow in transit moves nothing", async () => {
  const { client, socket } = await connected({ clockWindowMs: 200 });
  const released = record(client);
  let t = clock();
  let server = t + 1_000; // the server's clock is 1 s ahead of this machine's
  socket.push({ type: "batch", now: server, messages: [event(1, server + 50)] });
  // A frame a second slower in transit (written a second before it arrives): the estimate keeps the quicker one, so its
  // event is released at its due, not a second later.
  socket.push({ type: "batch", now: server - 1_000, messages: [event(2, server + 60)] });
  await sleep(400);
  assert.deepEqual(released.map((r) => r.m.data.seq), [1, 2], "the slow frame's event is not held back by its transit");
  assert.ok(released[0].at - t >= 49.5 && released[1].at - t >= 59.5, "never early by the quicker frame's clock");

  // The server's clock is stepped back by a second (an NTP correction): its frames now say the same time as this clock.
  // Within two windows (400 ms) of frames the estimate follows, and releases are at their due again, not a second early.
  for (let i = 0; i < 12; i++) {
    socket.push({ type: "batch", now: clock(), messages: [] });
    await sleep(50);
  }
  t = clock();
  socket.push({ type: "batch", now: t, messages: [event(3, t + 50)] });
  await sleep(150);
  assert.equal(released.length, 3);
  const after = released[2].at - t;
  assert.ok(after >= 49.5, `released ${after.toFixed(1)} ms after it arrived, ${(50 - after).toFixed(1)} ms early: the old clock is still believed`);
  client.close();
});

test("a frame whose now is not a number moves no clock: its events are released at their due", async () => {
  const { client, socket } = await connected();
  const released = record(client);
  const t = clock();
  // With a layout (its head read as text) and without (parsed whole): null and a string. Taken as 0, the clock estimate
  // was decades off and nothing was released.
  const frames = [
    batchText({ now: t, messages: [event(1, t + 40)] }).replace(`"now":${t},`, '"now":null,'),
    JSON.stringify({ type: "batch", now: null, messages: [event(2, t + 45)] }),
    JSON.stringify({ type: "batch", now: "", messages: [event(3, t + 50)] }),
  ];
  for (const frame of frames) socket.deliver(frame);
  await sleep(200);
  assert.deepEqual(released.map((r) => r.m.data.seq), [1, 2, 3]);
  released.forEach((r, i) => assert.ok(r.at - t >= 39.5 + 5 * i, `seq ${i + 1} released ${(r.at - t).toFixed(1)} ms after it came, before its due`));
  client.close();
});

test("close drops what is held", async () => {
  const { client, socket } = await connected();
  const released = record(client);
  const t = clock();
  socket.push({ type: "batch", now: t, messages: [event(1, t + 30)] });
  client.close();
  await sleep(80);
  assert.equal(released.length, 0);
  assert.equal(client.held, 0);
});

test("many clients in one page share one release timer, each released at its due and never early", async () => {
  const clients = [];
  for (let i = 0; i < 100; i++) clients.push(await connected());
  const released = clients.map(({ client }) => record(client));
  const t = clock();
  const dues = [20, 40, 60, 80, 100].map((d) => t + d);
  const realSetTimeout = globalThis.setTimeout;
  let timers = 0;
  globalThis.setTimeout = (fn, ms, ...rest) => { timers++; return realSetTimeout(fn, ms, ...rest); };
  try {
    for (const [i, { socket }] of clients.entries()) {
      socket.push({ type: "batch", now: t, messages: dues.map((due, k) => event(i * 10 + k + 1, due)) });
    }
    clients[7].client.close(); // a closed client's held messages are never released
    await sleep(200);
  } finally {
    globalThis.setTimeout = realSetTimeout;
  }

  for (const [i, r] of released.entries()) {
    if (i === 7) {
      assert.equal(r.length, 0, "the closed client released nothing");
      continue;
    }
    assert.deepEqual(r.map((x) => x.m.seq), [1, 2, 3, 4, 5].map((k) => i * 10 + k), `client ${i} released its events in due order`);
    for (const x of r) assert.ok(x.at >= x.m.due - 0.5, `client ${i} released seq ${x.m.seq} ${(x.m.due - x.at).toFixed(2)} ms early`);
  }
  // A few timers per release time for the whole page (the clients' clock estimates differ by the time the pushes took),
  // not one per client and release (765 with a timer per client).
  assert.ok(timers < clients.length, `${timers} timers set for ${dues.length} release times of 99 clients`);
  for (const { client } of clients) client.close();
});

test("a listener that closes the client gets nothing more, even what fell due at the same instant", async () => {
  const { client, socket } = await connected();
  const seqs = [];
  client.on("event", (m) => {
    seqs.push(m.seq);
    client.close();
  });
  const t = clock();
  socket.push({ type: "batch", now: t, messages: [event(1, t + 20), event(2, t + 20), event(3, t + 20)] });
  await sleep(80);
  assert.deepEqual(seqs, [1], "close drops what is held, including what was due with the message being handled");
});

test("a long stream through the jitter buffer comes out whole, in order and never early", async () => {
  const { client, socket } = await connected();
  const released = record(client);
  const t = clock();
  const frame = (from, count, dueFrom) => ({ type: "batch", now: clock(), messages: Array.from({ length: count }, (_, k) => event(from + k, dueFrom + k * 0.02)) });
  socket.push(frame(1, 1500, t + 20)); // due over 30 ms
  await sleep(40);
  assert.ok(client.held < 1500, "the first frame is being released");
  socket.push(frame(1501, 1500, t + 60));
  assert.ok(client.held > 1500 - 1, `${client.held} held with the second frame in`);
  await sleep(150);
  assert.equal(released.length, 3000);
  assert.deepEqual(released.map((r) => r.m.seq), Array.from({ length: 3000 }, (_, k) => k + 1));
  for (const r of released) assert.ok(r.at >= r.m.due - 0.5, `seq ${r.m.seq} released ${(r.m.due - r.at).toFixed(2)} ms early`);
  assert.equal(client.held, 0);
  client.close();
});
