// Quick delivery-precision probe (not the benchmark suite): opens N sessions, plays a window of the
// demo data at a speed, and prints |arrival − due| percentiles and the event rate.
// Usage: node --experimental-websocket bench/probe-delivery.mjs [url] [sessions] [speed] [seconds]
const url = process.argv[2] ?? "ws://localhost:8080/channels/trades";
const sessions = +(process.argv[3] ?? 10);
const speed = +(process.argv[4] ?? 10);
const seconds = +(process.argv[5] ?? 20);
const errors = [];
let firstEventMs = [];
const sockets = [];
const play = { action: "play", start: "2016-01-14T14:30:00Z", end: "2016-01-14T21:00:00Z", speed };
for (let i = 0; i < sessions; i++) {
  const ws = new WebSocket(url);
  let sent = 0;
  ws.onopen = () => { sent = performance.timeOrigin + performance.now(); ws.send(JSON.stringify(play)); };
  ws.onmessage = (m) => {
    const now = performance.timeOrigin + performance.now();
    const msg = JSON.parse(m.data);
    if (msg.type === "event") {
      if (firstEventMs.length < sessions && msg.seq === 1) firstEventMs.push(now - sent);
      errors.push(now - msg.due);
    } else if (msg.type === "error") console.error(msg);
  };
  sockets.push(ws);
}
setTimeout(() => {
  for (const ws of sockets) ws.close();
  const abs = errors.map(Math.abs).sort((a, b) => a - b);
  const q = (p) => abs[Math.min(abs.length - 1, Math.floor(p * abs.length))].toFixed(2);
  const early = errors.filter((e) => e < 0).length;
  firstEventMs.sort((a, b) => a - b);
  console.log(JSON.stringify({ sessions, speed, seconds, events: abs.length, eventsPerSecond: +(abs.length / seconds).toFixed(0),
    errorMs: { p50: +q(0.5), p99: +q(0.99), max: +abs[abs.length - 1].toFixed(2) }, earlyShare: +(early / abs.length).toFixed(3),
    firstEventMs: { median: +firstEventMs[Math.floor(firstEventMs.length / 2)]?.toFixed(1), max: +firstEventMs[firstEventMs.length - 1]?.toFixed(1) } }));
  process.exit(0);
}, seconds * 1000);
