// The naive design people write for this job, as the original prototype did: on `play`, load the
// window, set one timer per event, send each event on the socket when its timer fires.
// Used by Tivo's benchmark as a peer; fed the same events as Tivo (NDJSON files of {ts, data}).
//   node naive-ws-server.mjs --port 9000 --channel NAME=FILE [--channel NAME=FILE ...]
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { WebSocketServer } from "ws";

const args = process.argv.slice(2);
const port = Number(args[args.indexOf("--port") + 1]);
const channels = new Map();
args.forEach((a, i) => {
  if (a !== "--channel") return;
  const [name, file] = args[i + 1].split("=");
  const events = readFileSync(file, "utf8").split("\n").filter(Boolean).map((line) => {
    const e = JSON.parse(line);
    return { ts: e.ts, ms: Date.parse(e.ts), data: e.data };
  });
  channels.set(name, events);
});

const nowMs = () => performance.timeOrigin + performance.now();
const server = new WebSocketServer({ port, host: "127.0.0.1" });
server.on("connection", (socket, request) => {
  const channel = new URL(request.url, "http://x").searchParams.get("channel");
  const events = channels.get(channel) ?? [];
  let timers = [];
  socket.on("message", (raw) => {
    const message = JSON.parse(raw);
    if (message.action !== "play") return;
    timers.forEach(clearTimeout);
    const start = Date.parse(message.start), end = Date.parse(message.end), speed = Number(message.speed ?? 1);
    const window = events.filter((e) => e.ms >= start && e.ms < end);
    const t0 = nowMs();
    let seq = 0;
    timers = window.map((e) => {
      const due = t0 + (e.ms - start) / speed;
      return setTimeout(() => {
        socket.send(JSON.stringify({ type: "event", channel, ts: e.ts, seq: ++seq, due, data: e.data }));
      }, due - nowMs());
    });
  });
  socket.on("close", () => timers.forEach(clearTimeout));
});
server.on("listening", () => console.log(`naive peer listening on ${port}`));
