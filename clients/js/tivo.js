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
    this.options = { channels: [], reconnect: true, reconnectDelayMs: 500, maxReconnectDelayMs: 10_000, requestTimeoutMs: 15_000, lead: DEFAULT_LEAD_MS, ...options };
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
    // Lead mode's jitter buffer: messages received ahead of their due, in due order; the page's release clock wakes this client for the earliest.
    this._held = [];
    this._heldFrom = 0; // _held[_heldFrom..] wait; released ones are stepped over, not spliced out (no garbage per release)
    this._holdKey = null; // when the release clock is to wake this client (this clock's ms; null: not asked)
    this._skew = null; // server clock − this clock (ms), estimated from batch frames
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
    return this._held.length - this._heldFrom;
  }

  /** Closes the connection for good (no reconnect); pending controls reject; what was held ahead is dropped. */
  close() {
    this._closed = true;
    this._holdKey = null;
    this._held = [];
    this._heldFrom = 0;
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
    ws.onmessage = (m) => {
      let msg;
      try {
        msg = JSON.parse(typeof m.data === "string" ? m.data : new TextDecoder().decode(m.data));
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
      case "batch": {
        // Lead mode: messages sent ahead of their due. The largest (server clock − arrival) seen on this connection
        // estimates the clocks' offset minus the shortest transit, so a client clock that is off does not shift releases.
        const skew = msg.now - now();
        this._skew = this._skew === null ? skew : Math.max(this._skew, skew);
        for (const m of msg.messages ?? []) this._hold(m);
        return;
      }
      case "recall":
        // A control cut the course at `after`: what is held due after it will not happen.
        this._held = this._held.slice(this._heldFrom).filter((m) => !(m.due > msg.after));
        this._heldFrom = 0;
        this._arm(true);
        return;
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

  /** Holds a message sent ahead until its due (its seq counts as received at once: a reconnect resumes after it). */
  _hold(m) {
    if (m.type === "event" && !m.snapshot && typeof m.seq === "number") this.lastSeq = Math.max(this.lastSeq ?? 0, m.seq);
    const held = this._held;
    let i = held.length;
    while (i > this._heldFrom && held[i - 1].due > m.due) i--;
    if (i === held.length) held.push(m); // the usual case: frames come in due order
    else held.splice(i, 0, m);
    this._arm(false);
  }

  /** Asks the release clock to wake this client for the earliest held message (again when `reset`, e.g. after a recall). */
  _arm(reset) {
    const head = this._held[this._heldFrom];
    // Timers fire at whole milliseconds, late rather than early: aim one earlier and release what is due within RELEASE_EARLY_MS.
    const key = head ? head.due - (this._skew ?? 0) - 1 : null;
    if (!reset && this._holdKey !== null && this._holdKey <= (key ?? Infinity)) return;
    this._holdKey = key; // a wake-up already asked for at another time is stale now
    if (key !== null) releaseClock.wakeAt(this, key);
  }

  _releaseHeld() {
    this._holdKey = null;
    const until = this._serverNow() + RELEASE_EARLY_MS;
    // Each message leaves the buffer before its listeners run: one that closes the client (emptying it) ends the loop.
    while (this._heldFrom < this._held.length && this._held[this._heldFrom].due <= until) {
      const m = this._held[this._heldFrom];
      this._held[this._heldFrom++] = undefined;
      this._handle(m);
    }
    const held = this._held;
    if (this._heldFrom === held.length) {
      held.length = 0;
      this._heldFrom = 0;
    } else if (this._heldFrom >= 1024 && this._heldFrom * 2 >= held.length) {
      this._held = held.slice(this._heldFrom); // amortized: the released prefix is dropped once it is half the buffer
      this._heldFrom = 0;
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

/** How early a held message may be released (timers fire at whole milliseconds). */
const RELEASE_EARLY_MS = 0.5;

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
