// Tivo client: one connection to a Tivo gateway (wire protocol v1), with promise-returning controls,
// listeners, a playhead that moves between clock messages, and automatic reconnect that resumes from
// the last event received. No dependencies; works in browsers and in Node.js 20+ (pass `WebSocket`
// in the options where there is no global one).
//
// Lead mode (on by default, `lead: 500` ms): the gateway sends the session's messages up to that far ahead of
// their due in batched frames, and this client holds them in a jitter buffer and hands each to its listeners at
// its due, by the server's clock. Fewer frames for the server to write, network jitter absorbed; pass `lead: 0`
// for one frame per message, released by the server.

const ACTIONS = ["play", "pause", "resume", "seek", "speed", "stop", "status"];

/** An error answered by the server: `code` is one of protocol v1's error codes. */
export class TivoError extends Error {
  constructor(code, message, id) {
    super(message);
    this.name = "TivoError";
    this.code = code;
    this.id = id ?? null;
  }
}

export class TivoClient {
  /**
   * @param {string} url gateway base URL, e.g. "ws://localhost:8080" (http(s) is accepted and converted)
   * @param {object} [options]
   */
  constructor(url, options = {}) {
    this.url = String(url).replace(/^http/, "ws").replace(/\/+$/, "");
    this.options = { channels: [], reconnect: true, reconnectDelayMs: 500, maxReconnectDelayMs: 10_000, requestTimeoutMs: 15_000, lead: DEFAULT_LEAD_MS, clockWindowMs: DEFAULT_CLOCK_WINDOW_MS, ...options };
    this.session = options.session ?? null;
    this.role = options.role ?? null;
    this.state = null;
    this.lastSeq = null;
    this._listeners = new Map();
    this._pending = new Map();
    this._nextId = 1;
    this._ws = null;
    this._closed = false;
    this._clock = null;
    this._attempt = 0;
    // Lead mode's jitter buffer, in due order: messages received ahead of their due, parsed, and the parts of frames not
    // parsed yet (kept as their bytes until their earliest message falls due). The page's release clock wakes this client
    // for the earliest of both.
    this._held = new HeldQueue();
    this._parts = new HeldQueue();
    this._holdKey = null; // when the release clock is to wake this client (this clock's ms; null: not asked)
    this._skew = null; // server clock − this clock (ms), estimated from batch frames
    // The estimate is the largest sample of the last one or two windows (this window's and the one before): it keeps the
    // quickest transit seen lately, and follows a server clock that is stepped back or runs slow within two windows.
    this._skewWindow = { since: 0, best: -Infinity, before: -Infinity };
  }

  /** Opens the connection; resolves with the server's hello. */
  connect() {
    this._closed = false;
    return new Promise((resolve, reject) => this._open(resolve, reject));
  }

  /** Registers a listener: "hello", "event", "state", "clock", "loop", "error", "gap", "open", "close", "reconnecting". Returns an unsubscribe function. */
  on(type, listener) {
    // Listener lists are copied on change, never on emit: iterating a Set allocated an iterator per message.
    const listeners = this._listeners.get(type) ?? [];
    if (!listeners.includes(listener)) this._listeners.set(type, [...listeners, listener]);
    return () => this.off(type, listener);
  }

  off(type, listener) {
    const listeners = this._listeners.get(type);
    if (listeners?.includes(listener)) this._listeners.set(type, listeners.filter((l) => l !== listener));
  }

  play(options = {}) { return this._send("play", options); }
  pause() { return this._send("pause"); }
  resume() { return this._send("resume"); }
  seek(to) { return this._send("seek", { to: toIso(to) }); }
  setSpeed(speed) { return this._send("speed", { speed }); }
  stop() { return this._send("stop"); }
  /** Asks for the session's state; resolves with it. */
  async status() {
    await this._send("status");
    return this.state;
  }

  /**
   * The playhead now, as a Date: the last clock or state message moved on by the time since it
   * arrived at its speed (null before anything plays). Good for animating between messages.
   */
  get playhead() {
    const c = this._clock;
    if (!c) return null;
    if (this.state?.status !== "playing") return new Date(c.at);
    return new Date(c.at + (now() - c.received) * c.speed);
  }

  /** Messages received ahead of their due and not yet handed to listeners (lead mode). */
  get held() {
    return this._held.count + this._parts.count;
  }

  /** Closes the connection for good (no reconnect); pending controls reject; what was held ahead is dropped. */
  close() {
    this._closed = true;
    this._holdKey = null;
    this._held.clear();
    this._parts.clear();
    this._rejectAll(new TivoError("closed", "The connection was closed by the client."));
    this._ws?.close(1000, "bye");
  }

  // ───────────────────────── internals ─────────────────────────

  _endpoint() {
    const q = new URLSearchParams();
    for (const c of this.options.channels ?? []) q.append("channel", c);
    if (this.session) q.set("session", this.session);
    if (this.options.role) q.set("role", this.options.role);
    if (this.options.token) q.set("token", this.options.token);
    if (this.options.lead) q.set("lead", String(this.options.lead));
    if (this.lastSeq !== null) q.set("lastSeq", String(this.lastSeq));
    const s = q.toString();
    return `${this.url}/ws${s ? "?" + s : ""}`;
  }

  _open(resolve, reject) {
    const WS = this.options.WebSocket ?? globalThis.WebSocket;
    if (!WS) {
      reject(new TivoError("bad_request", "No WebSocket implementation: pass { WebSocket } in the options (Node.js < 22: run with --experimental-websocket)."));
      return;
    }

    let settled = false;
    const ws = new WS(this._endpoint());
    this._ws = ws;
    ws.onopen = () => this._emit("open", {});
    const onFrame = (data) => {
      const frame = typeof data === "string" || isNodeBuffer(data) ? data : utf8Decoder.decode(data);
      // A lead frame with its layout is held as bytes, each part parsed when it falls due.
      if (isBatchFrame(frame) && this._holdBatch(frame)) return;
      const text = typeof frame === "string" ? frame : frame.toString("utf8");
      let msg;
      try {
        msg = JSON.parse(text);
      } catch {
        return;
      }
      if (msg.type === "hello" && !settled) {
        settled = true;
        this._attempt = 0;
        resolve(msg);
      }
      this._handle(msg);
    };
    // The `ws` package (Node.js) hands a frame over as the Buffer it received; its `onmessage` would make a string of every
    // text frame first, which a lead frame held as bytes does not need (a frame's worth of garbage per frame).
    if (typeof ws.on === "function" && ws.binaryType === "nodebuffer") ws.on("message", onFrame);
    else ws.onmessage = (m) => onFrame(m.data);
    ws.onerror = () => {
      if (!settled) {
        settled = true;
        reject(new TivoError("unavailable", `Could not connect to ${this.url}.`));
      }
    };
    ws.onclose = (e) => {
      this._emit("close", { code: e.code, reason: e.reason });
      this._rejectAll(new TivoError("closed", `The connection closed (${e.code}${e.reason ? ": " + e.reason : ""}).`));
      if (!settled) {
        settled = true;
        reject(new TivoError("unavailable", `The connection to ${this.url} closed before hello (${e.code}).`));
        return;
      }
      // 1001: the gateway is going away (a rolling update) and says so — reconnect at once (to another gateway behind
      // the same address); other drops back off.
      if (!this._closed && this.options.reconnect && e.code !== 1009 && e.code !== 1008) this._reconnect(e.code === 1001 && this._attempt === 0);
    };
  }

  _reconnect(immediately = false) {
    const backoff = Math.min(this.options.maxReconnectDelayMs, this.options.reconnectDelayMs * 2 ** this._attempt++);
    const delay = immediately ? 0 : backoff;
    this._emit("reconnecting", { delayMs: delay, lastSeq: this.lastSeq });
    setTimeout(() => {
      if (this._closed) return;
      this._open(() => {}, () => this._reconnect());
    }, delay);
  }

  _handle(msg) {
    switch (msg.type) {
      case "batch":
        // Lead mode, a frame without a layout (a gateway before it): held parsed.
        this._observeServerNow(msg.now);
        for (const m of msg.messages ?? []) this._hold(m);
        return;
      case "recall": {
        // A control cut the course at `after`: what is held due after it will not happen. Parts that begin by then are
        // parsed now (their later messages are dropped with the rest); those that begin after go whole.
        const { _parts: parts } = this;
        for (let due = parts.headDue(); due !== null && due <= msg.after; due = parts.headDue()) this._openPart();
        parts.dropAfter(msg.after);
        this._held.dropAfter(msg.after);
        this._arm(true);
        return;
      }
      case "hello":
        this._skew = null; // a new connection (perhaps another gateway): estimate again
        this.session = msg.session;
        this.role = msg.role;
        this._setState(msg.state);
        break;
      case "event":
        if (!msg.snapshot && typeof msg.seq === "number") this.lastSeq = Math.max(this.lastSeq ?? 0, msg.seq);
        break;
      case "state":
        this._setState(msg);
        break;
      case "clock":
        this._clock = { at: Date.parse(msg.playhead), speed: msg.speed, received: now() };
        break;
      case "ack": {
        const p = this._pending.get(String(msg.id));
        if (p) {
          this._pending.delete(String(msg.id));
          clearTimeout(p.timer);
          p.resolve(msg);
        }
        break;
      }
      case "error": {
        const error = new TivoError(msg.code, msg.message, msg.id);
        const p = msg.id !== null && msg.id !== undefined ? this._pending.get(String(msg.id)) : null;
        if (p) {
          this._pending.delete(String(msg.id));
          clearTimeout(p.timer);
          p.reject(error);
        }
        break;
      }
    }
    this._emit(msg.type, msg);
  }

  /** A batch frame's `now` (the gateway's clock as it wrote the frame). The largest (server clock − arrival) seen on this
   * connection lately estimates the clocks' offset minus the shortest transit, so a client clock that is off does not shift
   * releases. Lately: within the last `clockWindowMs` to twice that, so a server clock stepped back (or slower than this
   * one) is followed within that time rather than releasing early until the next connection. */
  _observeServerNow(serverNow) {
    // Only a number is a clock: `null` or "" would subtract as 0 and put the estimate decades off (nothing released).
    if (typeof serverNow !== "number" || !Number.isFinite(serverNow)) return;
    const at = now();
    const skew = serverNow - at;
    const w = this._skewWindow;
    const length = this.options.clockWindowMs > 0 ? this.options.clockWindowMs : DEFAULT_CLOCK_WINDOW_MS;
    if (this._skew === null || at - w.since >= length) {
      // A new window: the one ending becomes the one before (forgotten when no frame came for a whole window).
      w.before = this._skew !== null && at - w.since < 2 * length ? w.best : -Infinity;
      w.best = skew;
      w.since = at;
    } else if (skew > w.best) w.best = skew;
    this._skew = Math.max(w.best, w.before);
  }

  /**
   * Holds a lead frame that ends with its `layout` as its UTF-8 bytes, by parts: each part (the frame's messages due within
   * 64 ms of its first) is parsed when its earliest message falls due. Only the frame's head (`now`) and its layout are
   * parsed on arrival. False when the frame has no layout (the caller parses it whole).
   */
  _holdBatch(frame) {
    // `frame` is the frame's text, or its UTF-8 bytes (a Node.js Buffer): its head and layout are ASCII, so their places are
    // the same in both.
    const bytes = typeof frame !== "string";
    const slice = (from, to) => (bytes ? frame.toString("utf8", from, to) : frame.slice(from, to));
    const last = frame.length - 1;
    const at = frame.lastIndexOf(LAYOUT_KEY);
    if (at < 0 || (bytes ? frame[last] : frame.charCodeAt(last)) !== 0x7d) return false;
    let layout;
    try {
      layout = JSON.parse(slice(at + LAYOUT_KEY.length, last));
    } catch {
      return false;
    }
    const parts = layout?.parts;
    // The gateway writes `now` first after the type; a frame written otherwise is parsed whole (no clock estimate lost).
    const nowText = slice(NOW_AT, frame.indexOf(",", NOW_AT));
    const serverNow = /^-?\d/.test(nowText) ? Number(nowText) : NaN; // Number("") and Number("null") would be 0
    if (!Array.isArray(parts) || slice(BATCH_PREFIX.length, NOW_AT) !== '"now":' || !Number.isFinite(serverNow)) return false;
    const { slab, from } = frameBytes.write(frame);
    const length = slab.used - from;
    // A layout that does not fit the frame (not this server's) is not trusted: the frame is parsed whole instead.
    const fits = (p) => Array.isArray(p) && Number.isInteger(p[1]) && Number.isInteger(p[2]) && p[1] >= 0 && p[1] < p[2] && p[2] <= length;
    if (!parts.every(fits)) {
      slab.used = from;
      return false;
    }
    this._observeServerNow(serverNow);
    if (typeof layout.lastSeq === "number") this.lastSeq = Math.max(this.lastSeq ?? 0, layout.lastSeq);
    for (const part of parts) {
      this._parts.add(typeof part[0] === "number" ? part[0] : -Infinity, slab, from + part[1], from + part[2], part[3] > 0 ? part[3] : 1);
    }
    this._arm(false);
    return true;
  }

  /** Parses the earliest held part and holds its messages (they are due from its due on). */
  _openPart() {
    const messages = this._parts.take();
    if (messages === null) return;
    for (let i = 0; i < messages.length; i++) this._hold(messages[i], false);
  }

  /** Holds a message sent ahead until its due (its seq counts as received at once: a reconnect resumes after it). */
  _hold(m, arm = true) {
    if (m === null || typeof m !== "object") return;
    if (m.type === "event" && !m.snapshot && typeof m.seq === "number") this.lastSeq = Math.max(this.lastSeq ?? 0, m.seq);
    this._held.add(typeof m.due === "number" ? m.due : -Infinity, m, -1, -1);
    if (arm) this._arm(false);
  }

  /** The earliest due held, parsed or not (null: nothing held). */
  _headDue() {
    const a = this._held.headDue();
    const b = this._parts.headDue();
    return a === null ? b : b === null || a <= b ? a : b;
  }

  /** Asks the release clock to wake this client for the earliest held message (again when `reset`, e.g. after a recall). */
  _arm(reset) {
    const head = this._headDue();
    // Timers fire at whole milliseconds, late rather than early: aim one earlier and release what is due within RELEASE_EARLY_MS.
    const key = head !== null ? head - (this._skew ?? 0) - 1 : null;
    if (!reset && this._holdKey !== null && this._holdKey <= (key ?? Infinity)) return;
    this._holdKey = key; // a wake-up already asked for at another time is stale now
    if (key !== null) releaseClock.wakeAt(this, key);
  }

  _releaseHeld() {
    this._holdKey = null;
    const until = this._serverNow() + RELEASE_EARLY_MS;
    const { _held: held, _parts: parts } = this;
    // A part falling due is parsed into held messages first. Each message leaves the buffer before its listeners run: one that closes the client (emptying it) ends the loop.
    for (let head = this._headDue(); head !== null && head <= until; head = this._headDue()) {
      if (parts.headDue() === head) this._openPart();
      else this._handle(held.take());
    }
    this._arm(false);
  }

  /** This clock moved to the server's, by the estimated skew. */
  _serverNow() {
    return now() + (this._skew ?? 0);
  }

  _setState(state) {
    this.state = state;
    if (state?.playhead) this._clock = { at: Date.parse(state.playhead), speed: state.speed, received: now() };
  }

  _send(action, fields = {}) {
    if (!ACTIONS.includes(action)) return Promise.reject(new TivoError("bad_request", `Unknown action ${action}.`));
    const ws = this._ws;
    if (!ws || ws.readyState !== 1) return Promise.reject(new TivoError("closed", "Not connected: call connect() first."));
    const id = `c${this._nextId++}`;
    const message = { action, id };
    for (const [k, v] of Object.entries(fields)) {
      if (v !== undefined) message[k] = k === "start" || k === "end" || k === "to" ? toIso(v) : v;
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(id);
        reject(new TivoError("timeout", `No answer to ${action} within ${this.options.requestTimeoutMs} ms.`, id));
      }, this.options.requestTimeoutMs);
      this._pending.set(id, { resolve, reject, timer });
      ws.send(JSON.stringify(message));
    });
  }

  _rejectAll(error) {
    for (const [, p] of this._pending) {
      clearTimeout(p.timer);
      p.reject(error);
    }
    this._pending.clear();
  }

  _emit(type, payload) {
    const listeners = this._listeners.get(type);
    if (!listeners) return;
    for (let i = 0; i < listeners.length; i++) {
      const listener = listeners[i];
      try {
        listener(payload);
      } catch (e) {
        queueMicrotask(() => { throw e; });
      }
    }
  }
}

/** The default lead (ms): the session then pushes every 400 ms instead of every 50, each push one frame (an eighth of the server's pushes), network
 * jitter is absorbed, and a control still takes effect at its cut (the gateway recalls what it sent past it). */
const DEFAULT_LEAD_MS = 500;
/** How long a sample of the server's clock counts (ms): the estimate follows a clock stepped back within one to two of these. */
const DEFAULT_CLOCK_WINDOW_MS = 10_000;

/** How early a held message may be released (timers fire at whole milliseconds). */
const RELEASE_EARLY_MS = 0.5;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();

/** How the gateway begins a lead frame (`{"type":"batch","now":…,"messages":[…],"layout":{…}}`), and its last field. */
const BATCH_PREFIX = '{"type":"batch",';
const LAYOUT_KEY = ',"layout":';
const NOW_AT = BATCH_PREFIX.length + '"now":'.length;

/** A Node.js Buffer (what the `ws` package hands over). */
const isNodeBuffer = (data) => typeof Buffer === "function" && Buffer.isBuffer(data);

/** Whether a frame (text, or a Buffer of its bytes) begins as a lead frame does. */
function isBatchFrame(frame) {
  if (typeof frame === "string") return frame.startsWith(BATCH_PREFIX);
  if (frame.length < BATCH_PREFIX.length) return false;
  for (let i = 0; i < BATCH_PREFIX.length; i++) if (frame[i] !== BATCH_PREFIX.charCodeAt(i)) return false;
  return true;
}

/**
 * One of the jitter buffer's queues, in due order: parsed messages (`source` the message, `start` −1), or parts of frames
 * held as bytes (`source` the slab, [start, end) the part's bytes in it; `take` parses the part and returns its messages).
 * Columns in typed arrays and one array of sources; the released prefix is stepped over and reclaimed in bulk, so holding
 * and releasing make no garbage but the parsed messages.
 */
class HeldQueue {
  constructor() {
    this.clear();
  }

  clear() {
    if (this.sources) for (let i = this.from; i < this.to; i++) forget(this.sources[i], this.starts[i]);
    this.dues = new Float64Array(64);
    this.starts = new Int32Array(64);
    this.ends = new Int32Array(64);
    this.counts = new Int32Array(64);
    this.sources = new Array(64).fill(null);
    this.from = 0;
    this.to = 0;
    this.count = 0; // messages held (a part counts those its layout gives)
  }

  /** The earliest held due, or null. */
  headDue() {
    return this.from < this.to ? this.dues[this.from] : null;
  }

  /** Holds one entry in due order (after any held at the same due: frames come in due order, so the usual case appends). */
  add(due, source, start, end, count = 1) {
    if (this.to === this.dues.length) this._makeRoom();
    let i = this.to;
    while (i > this.from && this.dues[i - 1] > due) i--;
    if (i < this.to) {
      // A refill due earlier than what is held (rare): the later ones move up one.
      this.dues.copyWithin(i + 1, i, this.to);
      this.starts.copyWithin(i + 1, i, this.to);
      this.ends.copyWithin(i + 1, i, this.to);
      this.counts.copyWithin(i + 1, i, this.to);
      this.sources.copyWithin(i + 1, i, this.to);
    }
    if (start >= 0) source.held++;
    this.dues[i] = due;
    this.starts[i] = start;
    this.ends[i] = end;
    this.counts[i] = count;
    this.sources[i] = source;
    this.to++;
    this.count += count;
  }

  /** Removes the earliest entry: a parsed message, or a part's messages (an array; null when its bytes are not JSON). */
  take() {
    const i = this.from++;
    const source = this.sources[i];
    this.count -= this.counts[i];
    this.sources[i] = null; // a frame's bytes go once its last part is taken
    if (this.from === this.to) this.from = this.to = 0;
    const start = this.starts[i];
    if (start < 0) return source;
    forget(source, start);
    try {
      return JSON.parse(source.array(start, this.ends[i]));
    } catch {
      return null;
    }
  }

  /** Drops what is held due after `after` (a recall). */
  dropAfter(after) {
    let to = this.to;
    while (to > this.from && this.dues[to - 1] > after) {
      to--;
      this.count -= this.counts[to];
      forget(this.sources[to], this.starts[to]);
      this.sources[to] = null;
    }
    this.to = to;
    if (this.from === this.to) this.from = this.to = 0;
  }

  /** Room for one more at the end: the released prefix moved out when it is at least half, else twice the columns. */
  _makeRoom() {
    const { from, to } = this;
    if (from * 2 >= to) {
      this.dues.copyWithin(0, from, to);
      this.starts.copyWithin(0, from, to);
      this.ends.copyWithin(0, from, to);
      this.counts.copyWithin(0, from, to);
      this.sources.copyWithin(0, from, to);
      this.sources.fill(null, to - from, to);
      this.from = 0;
      this.to = to - from;
      return;
    }
    const grow = (column, Type) => {
      const bigger = new Type(column.length * 2);
      bigger.set(column);
      return bigger;
    };
    this.dues = grow(this.dues, Float64Array);
    this.starts = grow(this.starts, Int32Array);
    this.ends = grow(this.ends, Int32Array);
    this.counts = grow(this.counts, Int32Array);
    this.sources = this.sources.concat(new Array(this.sources.length).fill(null));
  }
}

/** A held part's slab forgets it (parsed messages have none). */
function forget(source, start) {
  if (start >= 0) source.held--;
}

/**
 * Where lead frames' bytes are kept while their parts are held: slabs of 1 MiB, each counting the parts it holds; a slab
 * whose count is 0 is written again from its start. Bytes, not strings or parsed messages: they live outside the JS heap,
 * so the engine's young collections do not copy them. With 1,000 clients in one Node.js process at lead 500 ms, the
 * parsed messages held survived those collections, which copied 3–6 MB each (docs/performance.md). One slab for many
 * frames, not a buffer per frame: a buffer per frame was memory outside the heap that the engine counted, and it ran a full
 * collection about every second for it.
 */
const frameBytes = {
  slabSize: 1 << 20,
  current: null,
  spare: [],

  /** Writes a frame (its text, or its UTF-8 bytes) into a slab; returns the slab and where the frame begins in it. */
  write(frame) {
    const most = typeof frame === "string" ? frame.length * 3 : frame.length; // UTF-8 takes at most 3 bytes per UTF-16 unit
    if (most > this.slabSize) {
      const slab = new Slab(most);
      slab.used = slab.write(frame, 0);
      return { slab, from: 0 };
    }
    let slab = this.current;
    if (slab !== null && slab.held === 0) slab.used = 0; // nothing held in it: written again from the start
    if (slab === null || slab.used + most > slab.bytes.length) slab = this.current = this._next();
    const from = slab.used;
    slab.used = from + slab.write(frame, from);
    return { slab, from };
  },

  /** The next slab to write: one left behind earlier whose parts have all been taken since, or a new one. At most two idle
   * slabs are kept besides (the rest go to the collector), so a burst does not keep its peak for good. */
  _next() {
    let found = null;
    let idle = 0;
    this.spare = this.spare.filter((slab) => {
      if (slab.held > 0) return true;
      if (found === null) {
        found = slab;
        return false;
      }
      return ++idle <= 2;
    });
    if (this.current !== null) this.spare.push(this.current);
    if (found === null) return new Slab(this.slabSize);
    found.used = 0;
    return found;
  },
};

/** In Node.js slabs are Buffers, which encode and decode a range without a view object; elsewhere Uint8Arrays. */
const NODE_BUFFERS = typeof Buffer === "function" && typeof Buffer.allocUnsafeSlow === "function";

class Slab {
  constructor(size) {
    this.bytes = NODE_BUFFERS ? Buffer.allocUnsafeSlow(size) : new Uint8Array(size);
    this.used = 0;
    this.held = 0; // parts held in it
  }

  /** Writes a frame at `at` (text as UTF-8, with room for 3 bytes per UTF-16 unit; bytes as they are); returns the bytes written. */
  write(frame, at) {
    if (typeof frame !== "string") {
      this.bytes.set(frame, at);
      return frame.length;
    }
    return NODE_BUFFERS ? this.bytes.write(frame, at, "utf8") : utf8Encoder.encodeInto(frame, this.bytes.subarray(at)).written;
  }

  text(from, to) {
    return NODE_BUFFERS ? this.bytes.toString("utf8", from, to) : utf8Decoder.decode(this.bytes.subarray(from, to));
  }

  /**
   * The bytes [from, to) (messages separated by commas) as the text of a JSON array. The bytes either side of a part are
   * its frame's (a `[`, `,` or `]`): they are set to the brackets for the decode and put back, so the array is decoded
   * as one string. `"[" + text + "]"` made the part's text twice: once decoded, once flattened with the brackets.
   */
  array(from, to) {
    const { bytes } = this;
    if (from === 0 || to >= bytes.length) return "[" + this.text(from, to) + "]";
    const before = bytes[from - 1];
    const after = bytes[to];
    bytes[from - 1] = 0x5b; // [
    bytes[to] = 0x5d; // ]
    try {
      return this.text(from - 1, to + 1);
    } finally {
      bytes[from - 1] = before;
      bytes[to] = after;
    }
  }
}

/**
 * One release timer for every client of the page (or Node.js process): a min-heap of (local wake-up time, client).
 * A client with held messages asks to be woken for its earliest; the clock keeps one `setTimeout` for the earliest of
 * all. With a timer per client, 1,000 clients in one process (the benchmark's JS row) each set 100 timers a second.
 * Wake-ups a client no longer wants (it re-armed, was recalled or closed) are skipped: a client's current one is the
 * key it holds.
 */
const releaseClock = {
  keys: [],
  clients: [],
  timer: null,
  armedAt: Infinity,
  firing: false,
  woken: [], // reused by every firing

  wakeAt(client, key) {
    const { keys, clients } = this;
    let i = keys.length;
    keys.push(key);
    clients.push(client);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (keys[parent] <= key) break;
      keys[i] = keys[parent];
      clients[i] = clients[parent];
      i = parent;
    }
    keys[i] = key;
    clients[i] = client;
    if (key < this.armedAt && !this.firing) this._arm();
  },

  _pop() {
    const { keys, clients } = this;
    const lastKey = keys.pop();
    const lastClient = clients.pop();
    const n = keys.length;
    if (n === 0) return;
    let i = 0;
    while (true) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && keys[child + 1] < keys[child]) child++;
      if (keys[child] >= lastKey) break;
      keys[i] = keys[child];
      clients[i] = clients[child];
      i = child;
    }
    keys[i] = lastKey;
    clients[i] = lastClient;
  },

  _arm() {
    clearTimeout(this.timer);
    this.timer = null;
    this.armedAt = Infinity;
    // Stale wake-ups at the top are dropped first, so a closed client leaves no timer behind.
    while (this.keys.length > 0 && this.clients[0]._holdKey !== this.keys[0]) this._pop();
    if (this.keys.length === 0) return;
    this.armedAt = this.keys[0];
    this.timer = setTimeout(() => this._fire(), Math.max(0, this.armedAt - now()));
  },

  _fire() {
    this.timer = null;
    this.armedAt = Infinity;
    // Take every wake-up due first: a woken client may ask again for a time already past (it re-arms at once).
    const t = now();
    const woken = this.woken;
    while (this.keys.length > 0 && this.keys[0] <= t) {
      if (this.clients[0]._holdKey === this.keys[0]) woken.push(this.clients[0]);
      this._pop();
    }
    this.firing = true; // the woken clients' new wake-ups are armed once, after all of them
    try {
      for (const client of woken) client._releaseHeld();
    } finally {
      woken.length = 0;
      this.firing = false;
      this._arm();
    }
  },
};

function toIso(value) {
  if (value === null || value === undefined) return value;
  if (value instanceof Date) return value.toISOString();
  return String(value);
}

function now() {
  return typeof performance !== "undefined" ? performance.timeOrigin + performance.now() : Date.now();
}
