import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { TivoClient, TivoError } from "../tivo.js";
import { startGateway } from "./gateway.mjs";

let gateway;
before(async () => { gateway = await startGateway(); });
after(async () => { await gateway?.stop(); });

const SEED = { start: "2016-01-15T14:32:24Z", end: "2016-01-15T14:33:24Z", speed: 10, loop: "False" };

function nextOf(client, type, predicate = () => true, timeoutMs = 15_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { off(); reject(new Error(`no ${type} within ${timeoutMs} ms`)); }, timeoutMs);
    const off = client.on(type, (m) => {
      if (predicate(m)) { clearTimeout(timer); off(); resolve(m); }
    });
  });
}

/** Resolves when the client's state satisfies the predicate (now or with a later state message). */
function untilState(client, predicate, timeoutMs = 15_000) {
  return client.state && predicate(client.state) ? Promise.resolve(client.state) : nextOf(client, "state", predicate, timeoutMs);
}

test("connects, plays the seed window and receives events in order", async () => {
  const client = new TivoClient(gateway.ws, { channels: ["taxi"] });
  const hello = await client.connect();
  assert.equal(hello.protocol, 1);
  assert.deepEqual(hello.channels, ["taxi"]);
  const events = [];
  client.on("event", (e) => events.push(e));
  const ack = await client.play(SEED);
  assert.equal(ack.action, "play");
  await nextOf(client, "event");
  await nextOf(client, "event");
  assert.equal(client.state.status, "playing");
  assert.equal(events[0].channel, "taxi");
  assert.ok(events[1].seq > events[0].seq);
  assert.ok(events[0].data.zone, "payloads arrive as parsed JSON");
  client.close();
});

test("controls resolve with acks and update the state; the playhead moves between clock messages", async () => {
  const client = new TivoClient(gateway.ws, { channels: ["taxi"] });
  await client.connect();
  await client.play({ start: new Date("2016-01-15T14:00:00Z"), end: "2016-01-15T15:00:00Z", speed: 20 });
  await nextOf(client, "clock");
  const first = client.playhead.getTime();
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(client.playhead.getTime() > first, "the playhead advances at the session's speed");
  await client.pause();
  await untilState(client, (s) => s.status === "paused");
  await client.seek("2016-01-15T14:30:00Z");
  const sought = await client.status();
  assert.equal(sought.playhead, "2016-01-15T14:30:00Z");
  await client.setSpeed(5);
  await client.resume();
  const state = await untilState(client, (s) => s.status === "playing");
  assert.equal(state.speed, 5);
  await client.stop();
  assert.equal((await client.status()).status, "stopped");
  client.close();
});

test("a refused control rejects with the server's code and message", async () => {
  const client = new TivoClient(gateway.ws, { channels: ["taxi"] });
  await client.connect();
  await assert.rejects(client.pause(), (e) => e instanceof TivoError && e.code === "bad_request" && /send play/.test(e.message));
  await assert.rejects(client.play({ start: "2016-01-15T14:00:00Z", end: "2016-01-15T15:00:00Z", speed: 0 }), (e) => e.code === "bad_request");
  await assert.rejects(client.play({ channels: ["nope"], start: "2016-01-15T14:00:00Z", end: "2016-01-15T15:00:00Z" }), (e) => e.code === "unknown_channel");
  client.close();
});

test("after a dropped connection it reconnects and resumes after the last seq, nothing twice", async () => {
  const client = new TivoClient(gateway.ws, { channels: ["trades"], session: `js-${Date.now()}`, reconnectDelayMs: 100 });
  await client.connect();
  const seqs = [];
  client.on("event", (e) => { if (!e.snapshot) seqs.push(e.seq); });
  await client.play({ start: "2016-01-14T15:00:00Z", end: "2016-01-14T15:01:00Z", speed: 10 });
  await nextOf(client, "event", () => seqs.length >= 10);
  const reconnected = nextOf(client, "hello");
  client._ws.close(4000, "simulated network drop");
  await reconnected;
  await untilState(client, (s) => s.status === "ended", 30_000);
  assert.equal(new Set(seqs).size, seqs.length, "no seq twice");
  assert.deepEqual([...seqs].sort((a, b) => a - b), seqs, "in order");
  client.close();
});

test("an unreachable server rejects connect with a clear error", async () => {
  const client = new TivoClient("ws://127.0.0.1:9", { reconnect: false });
  await assert.rejects(client.connect(), (e) => e instanceof TivoError && e.code === "unavailable");
});

test("a channel whose name holds a slash is ingested, listed and played under that name", async () => {
  const name = "valve ß/2";
  const body = [0, 1].map((i) => JSON.stringify({ ts: `2031-05-01T00:00:0${i}Z`, data: { bar: i } })).join("\n");
  const ingest = await fetch(`${gateway.http}/channels/${encodeURIComponent(name)}/events`, {
    method: "POST", headers: { "content-type": "application/x-ndjson" }, body,
  });
  assert.equal(ingest.status, 200, await ingest.text());
  const info = await (await fetch(`${gateway.http}/channels/${encodeURIComponent(name)}`)).json();
  assert.equal(info.name, name);
  const client = new TivoClient(gateway.ws, { channels: [name] });
  const hello = await client.connect();
  assert.deepEqual(hello.channels, [name]);
  await client.play({ start: "2031-05-01T00:00:00Z", end: "2031-05-01T00:00:02Z", speed: 10 });
  const event = await nextOf(client, "event");
  assert.equal(event.channel, name);
  client.close();
});

test("a gateway stopping (SIGTERM) closes with 1001 and a reason, and the client reconnects at once", async () => {
  const own = await startGateway();
  const client = new TivoClient(own.ws, { channels: ["trades"], reconnectDelayMs: 5_000 });
  await client.connect();
  const closed = nextOf(client, "close");
  const reconnecting = nextOf(client, "reconnecting");
  await own.stop();
  const close = await closed;
  assert.equal(close.code, 1001);
  assert.match(close.reason, /shutting down/);
  assert.equal((await reconnecting).delayMs, 0, "no back-off when the server says it is going away");
  client.close();
});

/** Released no earlier than half a millisecond before its due, on the wall clock the gateway's dues are on. `at` is
 * `Date.now()` (whole milliseconds, rounded down), not Node.js's performance clock: that one stays where it was when the
 * host's wall clock is stepped, as it was once during a suite run (after a VM snapshot), and releases on time by the
 * gateway's clock then read 66–87 ms early by it. */
const notBeforeDue = (r) => r.at >= Math.floor(r.due - 0.5);

test("lead mode (the default): the stream comes in batched frames, each event is released at its due, and a pause stops it at the cut", async () => {
  let frames = 0;
  class CountingSocket extends WebSocket {
    constructor(url) {
      super(url);
      this.addEventListener("message", () => frames++);
    }
  }
  const client = new TivoClient(gateway.ws, { channels: ["alerts"], WebSocket: CountingSocket });
  await client.connect();
  const released = [];
  client.on("event", (e) => released.push({ seq: e.seq, due: e.due, at: Date.now(), status: client.state?.status }));
  await client.play({ start: "2016-01-15T00:00:00Z", end: "2016-01-16T00:00:00Z", duration: 6 });
  await nextOf(client, "event", () => released.length >= 150);
  await client.pause();
  await untilState(client, (s) => s.status === "paused");
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(frames * 3 < released.length, `${released.length} events in ${frames} frames: batched`);
  assert.deepEqual(released.map((r) => r.seq), [...released.map((r) => r.seq)].sort((a, b) => a - b), "in order, each once");
  assert.equal(new Set(released.map((r) => r.seq)).size, released.length);
  for (const r of released) {
    assert.ok(notBeforeDue(r), `seq ${r.seq} released ${(r.due - r.at).toFixed(2)} ms before its due`);
    assert.equal(r.status, "playing", `seq ${r.seq} released after the pause took effect`);
  }
  assert.equal(client.held, 0, "what was held past the cut was recalled");
  client.close();
});

test("over the ws package (Node.js) lead frames are held from the Buffers it receives, never made into strings whole, and every event comes out whole, in order, at its due", async () => {
  const { WebSocket: NodeWebSocket } = await import("ws");
  // ws's `onmessage` makes a string of every text frame (`data.toString()`); held as bytes, a lead frame needs none.
  const framesAsStrings = [];
  const realToString = Buffer.prototype.toString;
  Buffer.prototype.toString = function (...args) {
    if (args.length <= 1 && this.length > 16 && realToString.call(this, "latin1", 0, 16) === '{"type":"batch",') framesAsStrings.push(this.length);
    return realToString.apply(this, args);
  };
  const client = new TivoClient(gateway.ws, { channels: ["alerts"], WebSocket: NodeWebSocket });
  const released = [];
  try {
    await client.connect();
    client.on("event", (e) => released.push({ seq: e.seq, due: e.due, data: e.data, at: Date.now() }));
    await client.play({ start: "2016-01-15T00:00:00Z", end: "2016-01-16T00:00:00Z", duration: 6 });
    await nextOf(client, "event", () => released.length >= 150);
    await client.pause();
    await untilState(client, (s) => s.status === "paused");
  } finally {
    Buffer.prototype.toString = realToString;
    client.close();
  }
  assert.deepEqual(framesAsStrings, [], "no lead frame was decoded whole");
  assert.ok(released.length >= 150);
  assert.deepEqual(released.map((r) => r.seq), [...released.map((r) => r.seq)].sort((a, b) => a - b), "in order");
  assert.equal(new Set(released.map((r) => r.seq)).size, released.length, "each once");
  for (const r of released) {
    assert.ok(notBeforeDue(r), `seq ${r.seq} released ${(r.due - r.at).toFixed(2)} ms before its due`);
    assert.equal(typeof r.data, "object", `seq ${r.seq}'s payload arrives parsed`);
  }
});
