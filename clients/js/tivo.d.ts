// Types for the Tivo client (wire protocol v1). See README.md and docs/protocol.md.

export type Status = "idle" | "playing" | "paused" | "stopped" | "ended" | "buffering";
export type ErrorCode = "bad_request" | "unknown_channel" | "unauthorized" | "forbidden" | "too_large" | "rate_limited"
  | "store_unavailable" | "slow_consumer" | "internal" | "closed" | "timeout" | "unavailable";

export interface SessionState {
  type?: "state";
  status: Status;
  playhead: string | null;
  speed: number;
  achievedSpeed: number;
  loop: boolean;
  window: { start: string; end: string | null } | null;
  iteration: number;
  channels: string[];
  pacing: { duration: number | null; rate: number | null; maxGap: number | null };
  bufferAhead: number | null;
  behindLive?: number;
  participants?: { total: number; controllers: number };
  /** The silo holding the session (a cluster's pod name). */
  host?: string;
}

export interface Hello { type: "hello"; protocol: 1; session: string; channels: string[]; role: "controller" | "viewer"; state: SessionState }
export interface TivoEvent<T = unknown> { type: "event"; channel: string; ts: string; seq: number; due: number; data: T; snapshot?: true }
/** `due` (epoch ms) is present when the message came ahead of its due in lead mode, and is when it was released. */
export interface Clock { type: "clock"; playhead: string; speed: number; iteration: number; due?: number }
export interface Loop { type: "loop"; iteration: number; due?: number }
export interface Ack { type: "ack"; id: string | number | null; action: string }
export interface ServerError { type: "error"; id: string | number | null; code: ErrorCode; message: string }
/** Events fromSeq..toSeq will not come (a resume asked for events older than the session still holds). */
export interface Gap { type: "gap"; fromSeq: number; toSeq: number; message: string }

export interface PlayOptions {
  start?: string | Date;
  /** Omit (or null) to follow live data. */
  end?: string | Date | null;
  speed?: number;
  loop?: boolean;
  /** Seconds, or an ISO-8601 duration such as "PT1M". */
  duration?: number | string;
  /** Target events per second. */
  rate?: number;
  /** Seconds, or an ISO-8601 duration. */
  maxGap?: number | string;
  channels?: string[];
  /** Lead mode for this connection (ms, 0–1000; 0: off): overrides the client's `lead` option from this play on. */
  lead?: number;
}

export interface ClientOptions {
  channels?: string[];
  session?: string;
  role?: "controller" | "viewer";
  token?: string;
  /** Reconnect (resuming from the last seq) when the connection drops. Default true. */
  reconnect?: boolean;
  reconnectDelayMs?: number;
  maxReconnectDelayMs?: number;
  requestTimeoutMs?: number;
  /** Lead mode (ms, 0–1000): the gateway sends messages up to this far ahead of their due in batched frames and the client
   * hands each to listeners at its due (a jitter buffer). Default 500; 0 turns it off (one frame per message, released by the server). */
  lead?: number;
  /** Lead mode's estimate of the server's clock keeps the quickest frame of the last one to two of these (ms): a server clock
   * stepped back is followed within twice this. Default 10,000. */
  clockWindowMs?: number;
  /** A WebSocket constructor where there is no global one. */
  WebSocket?: typeof WebSocket;
}

export interface Listeners {
  hello: Hello; event: TivoEvent; state: SessionState; clock: Clock; loop: Loop; error: ServerError; gap: Gap;
  open: {}; close: { code: number; reason: string }; reconnecting: { delayMs: number; lastSeq: number | null };
}

export class TivoError extends Error {
  readonly code: ErrorCode | string;
  readonly id: string | number | null;
}

export class TivoClient {
  constructor(url: string, options?: ClientOptions);
  readonly url: string;
  session: string | null;
  role: "controller" | "viewer" | null;
  state: SessionState | null;
  lastSeq: number | null;
  /** Messages received ahead of their due and not yet handed to listeners (lead mode). */
  readonly held: number;
  /** The playhead now, advanced since the last clock message at its speed. */
  readonly playhead: Date | null;
  connect(): Promise<Hello>;
  on<K extends keyof Listeners>(type: K, listener: (message: Listeners[K]) => void): () => void;
  off<K extends keyof Listeners>(type: K, listener: (message: Listeners[K]) => void): void;
  play(options?: PlayOptions): Promise<Ack>;
  pause(): Promise<Ack>;
  resume(): Promise<Ack>;
  seek(to: string | Date): Promise<Ack>;
  setSpeed(speed: number): Promise<Ack>;
  stop(): Promise<Ack>;
  status(): Promise<SessionState>;
  close(): void;
}
