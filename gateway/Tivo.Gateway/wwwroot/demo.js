// Tivo's demo page: pick a channel, drag a window on the per-minute timeline, play it with the
// client library, and watch events drawn as they arrive. Everything is served by the gateway.
import { TivoClient } from "./tivo.js";

const $ = (id) => document.getElementById(id);
// On a server with access tokens, open the page as /?token=…: the page passes it on to the API and the socket.
const token = new URLSearchParams(location.search).get("token") ?? undefined;
const demo = (window.tivoDemo = { eventsDrawn: 0, playheadX: null, errors: [], state: () => client?.state ?? null });
const timeline = $("timeline"), stage = $("stage");
let channels = [], extent = null, bins = [], selection = null, client = null, recent = [];

function showError(message) {
  demo.errors.push(message);
  $("error").textContent = message;
  $("error").hidden = false;
}

function clearError() { $("error").hidden = true; }

async function getJson(url) {
  const response = await fetch(url, token ? { headers: { Authorization: `Bearer ${token}` } } : undefined);
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new Error(body?.message ?? `${url} answered ${response.status}`);
  return body;
}

function fit(canvas) {
  canvas.width = canvas.clientWidth * devicePixelRatio;
  canvas.height = Number(canvas.getAttribute("height")) * devicePixelRatio;
}

const x = (t) => (timeline.width * (t - extent.start)) / (extent.end - extent.start);
const t = (px) => extent.start + ((extent.end - extent.start) * px) / timeline.width;

function drawTimeline() {
  fit(timeline);
  const g = timeline.getContext("2d");
  g.clearRect(0, 0, timeline.width, timeline.height);
  const max = Math.max(1, ...bins.map((b) => b.count));
  g.fillStyle = "#4f7cff";
  const width = Math.max(1, timeline.width / Math.max(1, (extent.end - extent.start) / 60000));
  for (const b of bins) {
    const h = ((timeline.height - 10) * b.count) / max;
    g.fillRect(x(Date.parse(b.t)), timeline.height - h, width, h);
  }
  if (selection) {
    g.fillStyle = "rgba(255,200,80,0.18)";
    g.fillRect(x(selection.start), 0, x(selection.end) - x(selection.start), timeline.height);
  }
  const head = client?.playhead;
  if (head && client.state?.status !== "stopped") {
    demo.playheadX = x(head.getTime());
    g.fillStyle = "#ffcc50";
    g.fillRect(demo.playheadX - 1, 0, 2 * devicePixelRatio, timeline.height);
  }
}

function drawStage() {
  if (stage.width !== stage.clientWidth * devicePixelRatio) fit(stage);
  const g = stage.getContext("2d");
  g.fillStyle = "rgba(21,28,44,0.25)";
  g.fillRect(0, 0, stage.width, stage.height);
  const now = performance.now();
  recent = recent.filter((e) => now - e.at < 4000);
  for (const e of recent) {
    const age = (now - e.at) / 4000;
    g.fillStyle = `rgba(120,200,255,${1 - age})`;
    g.beginPath();
    g.arc(e.x * stage.width, e.y * stage.height, (3 + 6 * (1 - age)) * devicePixelRatio, 0, Math.PI * 2);
    g.fill();
  }
}

function frame() {
  if (extent) drawTimeline();
  drawStage();
  requestAnimationFrame(frame);
}

const ranges = {};
function norm(key, v) {
  const r = (ranges[key] ??= { min: v, max: v });
  r.min = Math.min(r.min, v);
  r.max = Math.max(r.max, v);
  return r.max > r.min ? (v - r.min) / (r.max - r.min) : 0.5;
}

function place(event) {
  // Coordinates draw as a map; otherwise x is the event's place in the window and y its first number
  // (scaled to what has been seen) or a lane per category.
  const d = event.data ?? {};
  if (typeof d.lat === "number" && typeof d.lon === "number") {
    return { x: 0.05 + 0.9 * norm("lon", d.lon), y: 0.95 - 0.9 * norm("lat", d.lat) };
  }
  const span = selection ? selection.end - selection.start : 1;
  const px = selection ? (Date.parse(event.ts) - selection.start) / span : Math.random();
  const key = Object.keys(d).find((k) => typeof d[k] === "number");
  if (key) return { x: Math.min(1, Math.max(0, px)), y: 0.95 - 0.9 * norm(key, d[key]) };
  const label = String(Object.values(d).find((v) => typeof v === "string") ?? event.channel);
  let hash = 0;
  for (const c of label) hash = (hash * 31 + c.charCodeAt(0)) >>> 0;
  return { x: Math.min(1, Math.max(0, px)), y: 0.1 + 0.8 * ((hash % 97) / 97) };
}

async function loadChannel(name) {
  const c = channels.find((ch) => ch.name === name);
  const start = Date.parse(c.first), end = Math.min(Date.parse(c.last) + 1, start + 24 * 3600_000);
  extent = { start, end };
  $("extent").textContent = `${c.count.toLocaleString()} events, ${c.first} … ${c.last} (timeline: first day)`;
  const h = await getJson(`channels/${encodeURIComponent(name)}/histogram?start=${new Date(start).toISOString()}&end=${new Date(end).toISOString()}&step=60`);
  bins = h.bins;
  const mid = start + (end - start) / 2;
  selection = { start: mid, end: mid + 3600_000 };
  showWindow();
}

function showWindow() {
  $("window").textContent = selection ? `${new Date(selection.start).toISOString()} → ${new Date(selection.end).toISOString()}` : "";
}

function setStatus(status) {
  $("status").textContent = status;
  $("pause").disabled = status !== "playing";
  $("resume").disabled = status !== "paused";
  $("stop").disabled = !["playing", "paused", "buffering"].includes(status);
}

async function control(promise) {
  clearError();
  try {
    await promise;
  } catch (e) {
    showError(`${e.code ?? "error"}: ${e.message}`);
  }
}

async function ensureClient() {
  if (client) return client;
  client = new TivoClient(location.origin.replace(/^http/, "ws"), { channels: [], token });
  client.on("event", (e) => {
    recent.push({ ...place(e), at: performance.now() });
    demo.eventsDrawn++;
    $("counters").textContent = `${demo.eventsDrawn.toLocaleString()} events drawn · seq ${e.seq}`;
  });
  client.on("state", (s) => setStatus(s.status));
  client.on("error", (e) => { if (e.id === null) showError(`${e.code}: ${e.message}`); });
  client.on("close", (e) => { if (e.code !== 1000) showError(`connection closed (${e.code}); reconnecting…`); });
  await client.connect();
  return client;
}

let drag = null;
timeline.addEventListener("pointerdown", (e) => { drag = { from: t(e.offsetX * devicePixelRatio) }; });
timeline.addEventListener("pointermove", (e) => {
  if (!drag) return;
  const to = t(e.offsetX * devicePixelRatio);
  selection = { start: Math.min(drag.from, to), end: Math.max(drag.from, to) };
  showWindow();
});
timeline.addEventListener("pointerup", () => { drag = null; });

$("channel").addEventListener("change", (e) => loadChannel(e.target.value).catch((err) => showError(err.message)));
$("play").addEventListener("click", async () => {
  if (!selection || selection.end - selection.start < 1000) return showError("Drag on the timeline to choose a window first.");
  recent = [];
  const c = await ensureClient().catch((e) => showError(e.message));
  if (!c) return;
  const options = {
    channels: [$("channel").value],
    start: new Date(selection.start), end: new Date(selection.end),
    speed: Number($("speed").value) || 1,
    loop: $("loop").checked,
  };
  if ($("duration").value) options.duration = Number($("duration").value);
  if ($("rate").value) options.rate = Number($("rate").value);
  await control(c.play(options));
});
$("pause").addEventListener("click", () => control(client.pause()));
$("resume").addEventListener("click", () => control(client.resume()));
$("stop").addEventListener("click", () => control(client.stop()));
$("speed").addEventListener("change", () => { if (client?.state?.status === "playing") control(client.setSpeed(Number($("speed").value))); });

try {
  channels = await getJson("channels");
  if (channels.length === 0) throw new Error("The server has no channels yet: ingest events first.");
  for (const c of channels) $("channel").append(new Option(c.name, c.name));
  const preferred = channels.find((c) => c.name === "taxi") ?? channels[0];
  $("channel").value = preferred.name;
  await loadChannel(preferred.name);
} catch (e) {
  showError(e.message);
}
requestAnimationFrame(frame);
