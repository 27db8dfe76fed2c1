// Tivo's demo page: the whole extent on a zoomable timeline, several channels on one clock, each drawn the way
// its data asks (positions on a map with fading trails, numbers as live time series, messages as a log), every
// control of the protocol, watching together, and live data. Everything is served by the gateway; uPlot is vendored.
import { TivoClient } from "./tivo.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
// On a server with access tokens, open the page as /?token=…; a shared link adds ?session=…&role=viewer.
const token = params.get("token") ?? undefined;
const joinSession = params.get("session") ?? undefined;
const viewerOnly = params.get("role") === "viewer";
const MAX_HISTOGRAM_MS = 31 * 24 * 3600_000; // the histogram route's limit
const COLORS = ["#4fc3f7", "#ffb74d", "#81c784", "#f06292", "#ba68c8", "#fff176", "#4db6ac", "#e57373"];

let channels = [];                    // [{name, first, last, count, start, end, color}]
let full = null;                      // the union extent of all channels, {start, end} (epoch ms)
let view = null;                      // the timeline's visible range
let bins = new Map();                 // channel -> [{t, count}] for the view
let selection = null;                 // the window to play, {start, end}
let client = null;
const views = new Map();              // channel -> view object

const demo = (window.tivoDemo = {
  drawn: {}, loops: 0, errors: [], playheadX: null, shareLink: null,
  get view() { return view; }, get selection() { return selection; }, get full() { return full; },
  state: () => client?.state ?? null,
  xOf: (time) => xOf(time) / devicePixelRatio,
  selected: () => selectedChannels(),
});

// ───────────────────────── helpers ─────────────────────────

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

const iso = (ms) => new Date(ms).toISOString();
const channelPath = (name) => `channels/${encodeURIComponent(name)}`;
const selectedChannels = () => [...document.querySelectorAll("#channels input:checked")].map((i) => i.value);
const colorOf = (name) => channels.find((c) => c.name === name)?.color ?? COLORS[0];

function formatDuration(ms) {
  const s = Math.abs(ms) / 1000;
  if (s < 120) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  if (s < 7200) return `${(s / 60).toFixed(0)} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} d`;
}

// ───────────────────────── timeline ─────────────────────────

const timeline = $("timeline");
const xOf = (time) => (timeline.width * (time - view.start)) / (view.end - view.start);
const timeAt = (px) => view.start + ((view.end - view.start) * px) / timeline.width;

let histogramRequest = 0;
async function loadHistograms() {
  const request = ++histogramRequest;
  const width = Math.max(200, timeline.clientWidth);
  const step = Math.max(1, Math.ceil((view.end - view.start) / 1000 / width));
  const loaded = new Map();
  await Promise.all(selectedChannels().map(async (name) => {
    const c = channels.find((ch) => ch.name === name);
    const start = Math.max(view.start, c.start), end = Math.min(view.end, c.end);
    if (end <= start) return loaded.set(name, []);
    const h = await getJson(`${channelPath(name)}/histogram?start=${iso(start)}&end=${iso(end)}&step=${step}`);
    loaded.set(name, h.bins.map((b) => ({ t: Date.parse(b.t), count: b.count, step: step * 1000 })));
  }));
  if (request === histogramRequest) bins = loaded;
}

let reloadTimer = null;
function setView(start, end) {
  const span = Math.min(Math.max(end - start, 60_000), Math.min(full.end - full.start, MAX_HISTOGRAM_MS));
  start = Math.min(Math.max(start, full.start), full.end - span);
  view = { start, end: start + span };
  $("view").textContent = `timeline ${iso(view.start).slice(0, 16)}Z … ${iso(view.end).slice(0, 16)}Z (${formatDuration(span)})`;
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(() => loadHistograms().catch((e) => showError(e.message)), 120);
}

function resetView() { setView(full.start, full.end); }

function drawTimeline() {
  const w = timeline.clientWidth * devicePixelRatio, h = Number(timeline.getAttribute("height")) * devicePixelRatio;
  if (timeline.width !== w || timeline.height !== h) { timeline.width = w; timeline.height = h; }
  const g = timeline.getContext("2d");
  g.clearRect(0, 0, w, h);
  // Stacked bars, one colour per channel, scaled to the busiest bin in view.
  const stacks = new Map();
  let max = 1;
  for (const [name, list] of bins) {
    for (const b of list) {
      const key = b.t;
      const below = stacks.get(key) ?? 0;
      stacks.set(key, below + b.count);
      max = Math.max(max, below + b.count);
    }
  }
  const base = h - 14 * devicePixelRatio;
  stacks.clear();
  for (const [name, list] of bins) {
    g.fillStyle = colorOf(name);
    for (const b of list) {
      const below = stacks.get(b.t) ?? 0;
      const height = ((base - 4) * b.count) / max;
      const x0 = xOf(b.t), x1 = Math.max(x0 + 1, xOf(b.t + b.step));
      g.fillRect(x0, base - ((base - 4) * below) / max - height, x1 - x0, height);
      stacks.set(b.t, below + b.count);
    }
  }
  // Day ticks.
  g.fillStyle = "#8a93a6";
  g.font = `${10 * devicePixelRatio}px system-ui`;
  const day = 86400_000, hour = 3600_000;
  const tick = view.end - view.start > 2 * day ? day : view.end - view.start > 6 * hour ? hour * 3 : hour;
  for (let t = Math.ceil(view.start / tick) * tick; t < view.end; t += tick) {
    g.fillRect(xOf(t), base, 1, 4 * devicePixelRatio);
    g.fillText(tick >= day ? iso(t).slice(5, 10) : iso(t).slice(11, 16), xOf(t) + 3, h - 2 * devicePixelRatio);
  }
  if (selection) {
    g.fillStyle = "rgba(255,183,77,0.16)";
    g.fillRect(xOf(selection.start), 0, xOf(selection.end) - xOf(selection.start), base);
    g.fillStyle = "rgba(255,183,77,0.8)";
    g.fillRect(xOf(selection.start), 0, devicePixelRatio, base);
    g.fillRect(xOf(selection.end), 0, devicePixelRatio, base);
  }
  const head = client?.playhead;
  const status = client?.state?.status;
  if (head && status && !["stopped", "idle"].includes(status)) {
    const x = xOf(head.getTime());
    demo.playheadX = x / devicePixelRatio;
    g.fillStyle = "#ffffff";
    g.fillRect(x - devicePixelRatio, 0, 2 * devicePixelRatio, base);
    const pass = client.state?.iteration ?? 0;
    if (client.state?.loop) {
      g.fillText(`pass ${pass + 1}`, Math.min(x + 4, w - 60 * devicePixelRatio), 12 * devicePixelRatio);
    }
  }
}

// Pointer: drag selects a window, a click inside it seeks, shift-drag pans, the wheel zooms, a double-click resets.
let drag = null;
timeline.addEventListener("pointerdown", (e) => {
  timeline.setPointerCapture(e.pointerId);
  drag = { x: e.offsetX, from: timeAt(e.offsetX * devicePixelRatio), pan: e.shiftKey, view: { ...view }, moved: false };
});
timeline.addEventListener("pointermove", (e) => {
  if (!drag) return;
  if (Math.abs(e.offsetX - drag.x) > 3) drag.moved = true;
  if (!drag.moved) return;
  if (drag.pan) {
    const shift = ((drag.x - e.offsetX) * (drag.view.end - drag.view.start)) / timeline.clientWidth;
    setView(drag.view.start + shift, drag.view.end + shift);
  } else if (!viewerOnly) {
    const to = timeAt(e.offsetX * devicePixelRatio);
    selection = { start: Math.max(full.start, Math.min(drag.from, to)), end: Math.min(full.end, Math.max(drag.from, to)) };
    showWindow();
  }
});
timeline.addEventListener("pointerup", (e) => {
  const wasClick = drag && !drag.moved;
  drag = null;
  if (!wasClick || viewerOnly || !client?.state?.window) return;
  const at = timeAt(e.offsetX * devicePixelRatio);
  const w = client.state.window;
  const start = Date.parse(w.start), end = w.end ? Date.parse(w.end) : Infinity;
  if (at >= start && at < end) control(client.seek(new Date(at)));
});
timeline.addEventListener("wheel", (e) => {
  e.preventDefault();
  if (e.shiftKey) {
    const shift = (e.deltaY * (view.end - view.start)) / 1000;
    return setView(view.start + shift, view.end + shift);
  }
  const factor = e.deltaY > 0 ? 1.25 : 0.8;
  const at = timeAt(e.offsetX * devicePixelRatio);
  setView(at - (at - view.start) * factor, at + (view.end - at) * factor);
}, { passive: false });
timeline.addEventListener("dblclick", resetView);

function showWindow() {
  $("window").textContent = selection ? `window ${iso(selection.start)} → ${iso(selection.end)} (${formatDuration(selection.end - selection.start)})` : "";
}

// ───────────────────────── views: each channel drawn the way its data asks ─────────────────────────

/** Picks a view for a channel from a sample payload: coordinates → map, severity/message → log, numbers → series. */
function kindOf(data) {
  if (data && typeof data === "object") {
    if (typeof data.lat === "number" && typeof data.lon === "number") return "map";
    if ("severity" in data || "level" in data) return "log";
    if (Object.values(data).some((v) => typeof v === "number")) return "series";
  }
  return "log";
}

function createView(name, sample) {
  const box = document.createElement("section");
  box.className = "view";
  box.dataset.channel = name;
  box.innerHTML = `<h2><span class="swatch"></span><span class="name"></span><span class="count">0</span></h2>`;
  box.querySelector(".swatch").style.background = colorOf(name);
  box.querySelector(".name").textContent = name;
  $("views").append(box);
  const kind = kindOf(sample);
  const v = kind === "map" ? mapView(box, name) : kind === "series" ? seriesView(box, name, sample) : logView(box);
  v.kind = kind;
  v.box = box;
  v.count = 0;
  v.counter = box.querySelector(".count");
  return v;
}

function mapView(box, name) {
  const canvas = document.createElement("canvas");
  canvas.className = "map";
  box.append(canvas);
  const points = [];
  const bounds = { minLat: Infinity, maxLat: -Infinity, minLon: Infinity, maxLon: -Infinity };
  const color = colorOf(name);
  return {
    add(e) {
      const { lat, lon } = e.data;
      bounds.minLat = Math.min(bounds.minLat, lat); bounds.maxLat = Math.max(bounds.maxLat, lat);
      bounds.minLon = Math.min(bounds.minLon, lon); bounds.maxLon = Math.max(bounds.maxLon, lon);
      points.push({ lat, lon, at: performance.now(), label: e.data.zone });
      if (points.length > 4000) points.splice(0, points.length - 4000);
    },
    clear() { points.length = 0; },
    draw(now) {
      const w = canvas.clientWidth * devicePixelRatio, h = canvas.clientHeight * devicePixelRatio;
      if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
      const g = canvas.getContext("2d");
      g.fillStyle = "rgba(11,14,20,0.35)"; // the previous frame fades: trails
      g.fillRect(0, 0, w, h);
      if (!points.length) return;
      // Equirectangular around the data, longitude shrunk by cos(latitude) so distances look right.
      const midLat = (bounds.minLat + bounds.maxLat) / 2, k = Math.cos((midLat * Math.PI) / 180);
      const spanX = Math.max(0.01, (bounds.maxLon - bounds.minLon) * k), spanY = Math.max(0.01, bounds.maxLat - bounds.minLat);
      const scale = 0.9 * Math.min(w / spanX, h / spanY);
      const px = (lon) => w / 2 + (lon - (bounds.minLon + bounds.maxLon) / 2) * k * scale;
      const py = (lat) => h / 2 - (lat - midLat) * scale;
      while (points.length && now - points[0].at > 6000) points.shift();
      for (const p of points) {
        const age = (now - p.at) / 6000;
        g.globalAlpha = Math.max(0.05, 1 - age);
        g.fillStyle = color;
        g.beginPath();
        g.arc(px(p.lon), py(p.lat), (1.5 + 4 * (1 - age)) * devicePixelRatio, 0, Math.PI * 2);
        g.fill();
      }
      g.globalAlpha = 1;
    },
  };
}

function seriesView(box, name, sample) {
  const numbers = Object.keys(sample).filter((k) => typeof sample[k] === "number");
  const field = ["price", "temp", "value", "reading"].find((k) => numbers.includes(k)) ?? numbers[0];
  const groupBy = Object.keys(sample).find((k) => typeof sample[k] === "string");
  const holder = document.createElement("div");
  holder.className = "series";
  box.append(holder);
  const groups = [];               // series labels, in order of appearance (at most 8)
  let xs = [], ys = [];            // aligned columns for uPlot
  const limit = 3000;
  const make = () => new uPlot({
    width: Math.max(240, holder.clientWidth || box.clientWidth - 16), height: 260,
    series: [{}, ...groups.map((label, i) => ({ label, stroke: COLORS[(i + 1) % COLORS.length], width: 1.5, spanGaps: true, points: { show: false } }))],
    axes: [{ stroke: "#8a93a6", grid: { stroke: "#232a38" } }, { stroke: "#8a93a6", grid: { stroke: "#232a38" }, label: field }],
    scales: { x: { time: true } },
    legend: { show: true },
  }, [xs, ...ys], holder);
  let plot = null, dirty = false;
  new ResizeObserver(() => plot?.setSize({ width: Math.max(240, holder.clientWidth), height: 260 })).observe(holder);
  return {
    add(e) {
      const label = groupBy ? String(e.data[groupBy]) : field;
      let g = groups.indexOf(label);
      if (g < 0 && groups.length < 8) {
        groups.push(label);
        ys.push(new Array(xs.length).fill(null));
        g = groups.length - 1;
        plot?.destroy();
        plot = null;
      }
      if (g < 0) return;
      xs.push(Date.parse(e.ts) / 1000);
      ys.forEach((col, i) => col.push(i === g ? e.data[field] : null));
      if (xs.length > limit) { xs = xs.slice(-limit); ys = ys.map((col) => col.slice(-limit)); }
      dirty = true;
    },
    clear() { xs = []; ys = ys.map(() => []); dirty = true; },
    draw() {
      if (!dirty) return;
      dirty = false;
      if (!plot) plot = make();
      else plot.setData([xs, ...ys]);
    },
  };
}

function logView(box) {
  const log = document.createElement("div");
  log.className = "log";
  box.append(log);
  const pending = [];
  return {
    add(e) { pending.push(e); },
    clear() { log.textContent = ""; pending.length = 0; },
    draw() {
      if (!pending.length) return;
      const fragment = document.createDocumentFragment();
      for (const e of pending.splice(0)) {
        const d = e.data ?? {};
        const line = document.createElement("div");
        const severity = String(d.severity ?? d.level ?? "info").toLowerCase();
        line.className = `sev-${severity}`;
        const text = typeof d === "object" ? (d.message ?? d.text ?? JSON.stringify(d)) : JSON.stringify(d);
        line.textContent = `${e.ts.slice(11, 19)}  ${severity.padEnd(8)} ${d.service ? d.service + " " : ""}${d.host ? d.host + " " : ""}${text}`;
        fragment.prepend(line);
      }
      log.prepend(fragment);
      while (log.childElementCount > 300) log.lastElementChild.remove();
    },
  };
}

function onEvent(e) {
  let v = views.get(e.channel);
  if (!v) views.set(e.channel, (v = createView(e.channel, e.data)));
  v.add(e);
  v.count++;
  demo.drawn[e.channel] = (demo.drawn[e.channel] ?? 0) + 1;
}

function resetViews(names) {
  for (const [name, v] of views) {
    if (!names.includes(name)) { v.box.remove(); views.delete(name); }
    else { v.clear(); v.count = 0; }
  }
  demo.drawn = {};
  demo.loops = 0;
}

// ───────────────────────── state, controls ─────────────────────────

function showState() {
  const s = client?.state;
  const status = s?.status ?? "idle";
  $("status").textContent = status;
  $("role").textContent = viewerOnly ? "· viewer" : "";
  const head = client?.playhead;
  $("playhead").textContent = head && status !== "idle" ? iso(head.getTime()).replace(".000Z", "Z") : "—";
  $("speed-now").textContent = s ? `${s.speed}×` : "—";
  $("achieved").textContent = s && status === "playing" ? `${(s.achievedSpeed ?? s.speed).toPrecision(3)}×` : "—";
  $("iteration").textContent = s?.loop ? String((s.iteration ?? 0) + 1) : "—";
  $("buffering").hidden = status !== "buffering";
  $("buffer-ahead").textContent = s?.bufferAhead != null ? `${s.bufferAhead.toFixed(1)} s loaded` : "";
  $("behind").hidden = s?.behindLive == null;
  $("behind-live").textContent = s?.behindLive != null ? `${s.behindLive.toFixed(2)} s` : "";
  const p = s?.participants;
  $("watching").textContent = p ? `${p.total} (${p.controllers} controlling)` : "—";
  const controls = !viewerOnly;
  $("pause").disabled = !controls || status !== "playing";
  $("resume").disabled = !controls || status !== "paused";
  $("stop").disabled = !controls || !["playing", "paused", "buffering"].includes(status);
  for (const id of ["play", "live", "duration", "rate", "maxgap", "loop", "speed"]) $(id).disabled = !controls;
  $("share").disabled = !client?.session;
  if (viewerOnly && s?.window?.start) {
    // A viewer sees the session's window and channels, whatever the page had chosen.
    const start = Date.parse(s.window.start), end = s.window.end ? Date.parse(s.window.end) : null;
    if (selection?.start !== start || (end !== null && selection?.end !== end)) {
      selection = { start, end: end ?? start };
      showWindow();
      for (const input of document.querySelectorAll("#channels input")) input.checked = (s.channels ?? []).includes(input.value);
      loadHistograms().catch(() => {});
    }
  }
  for (const v of views.values()) v.counter.textContent = v.count.toLocaleString();
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
  client = new TivoClient(location.origin.replace(/^http/, "ws"), { channels: [], token, session: joinSession, role: viewerOnly ? "viewer" : undefined });
  client.on("event", onEvent);
  client.on("loop", () => { demo.loops++; });
  client.on("error", (e) => { if (e.id === null) showError(`${e.code}: ${e.message}`); });
  client.on("close", (e) => { if (e.code !== 1000) showError(`connection closed (${e.code}); reconnecting…`); });
  await client.connect();
  // Who else is watching: the state names participants; ask now and then (a viewer may ask for status too).
  setInterval(() => client.status().catch(() => {}), 3000);
  return client;
}

const speedValue = () => Number((10 ** Number($("speed").value)).toPrecision(3));
function showSpeed() { $("speed-value").textContent = `${speedValue().toLocaleString()}×`; }

function playOptions(names) {
  const options = { channels: names, speed: speedValue(), loop: $("loop").checked };
  if ($("duration").value) options.duration = Number($("duration").value);
  if ($("rate").value) options.rate = Number($("rate").value);
  if ($("maxgap").value) options.maxGap = Number($("maxgap").value);
  return options;
}

async function play() {
  const names = selectedChannels();
  if (!names.length) return showError("Pick at least one channel.");
  if (!selection || selection.end - selection.start < 1000) return showError("Drag on the timeline to choose a window first.");
  const c = await ensureClient().catch((e) => showError(e.message));
  if (!c) return;
  resetViews(names);
  await control(c.play({ ...playOptions(names), start: new Date(selection.start), end: new Date(selection.end) }));
}

async function followLive() {
  const names = selectedChannels();
  if (!names.length) return showError("Pick at least one channel.");
  const c = await ensureClient().catch((e) => showError(e.message));
  if (!c) return;
  resetViews(names);
  // No end: the session follows live data as it is ingested, from now on, at speed 1.
  await control(c.play({ channels: names, speed: 1 }));
}

function togglePlayback() {
  const status = client?.state?.status;
  if (status === "playing" || status === "buffering") return control(client.pause());
  if (status === "paused") return control(client.resume());
  return play();
}

function seekBy(fraction) {
  const w = client?.state?.window;
  const head = client?.playhead;
  if (!w?.end || !head) return;
  const start = Date.parse(w.start), end = Date.parse(w.end);
  const to = Math.min(end - 1, Math.max(start, head.getTime() + fraction * (end - start)));
  control(client.seek(new Date(to)));
}

function changeSpeed(factor) {
  const slider = $("speed");
  slider.value = String(Math.min(4, Math.max(-2, Number(slider.value) + Math.log10(factor))));
  showSpeed();
  if (client && ["playing", "paused", "buffering"].includes(client.state?.status)) control(client.setSpeed(speedValue()));
}

async function share() {
  const link = new URL(location.origin + location.pathname);
  link.searchParams.set("session", client.session);
  link.searchParams.set("role", "viewer");
  if (token) link.searchParams.set("token", token);
  demo.shareLink = link.toString();
  $("share-link").value = demo.shareLink;
  $("share-link").hidden = false;
  $("share-link").select();
  try { await navigator.clipboard.writeText(demo.shareLink); $("share").textContent = "Link copied"; } catch { $("share").textContent = "Copy the link"; }
}

$("play").addEventListener("click", play);
$("live").addEventListener("click", followLive);
$("pause").addEventListener("click", () => control(client.pause()));
$("resume").addEventListener("click", () => control(client.resume()));
$("stop").addEventListener("click", () => control(client.stop()));
$("share").addEventListener("click", share);
$("speed").addEventListener("input", showSpeed);
$("speed").addEventListener("change", () => { if (client && ["playing", "paused", "buffering"].includes(client.state?.status)) control(client.setSpeed(speedValue())); });
document.addEventListener("keydown", (e) => {
  if (e.target instanceof HTMLInputElement && e.target.type !== "checkbox" && e.target.type !== "range") return;
  if (viewerOnly) return;
  const actions = { " ": togglePlayback, ArrowLeft: () => seekBy(-0.1), ArrowRight: () => seekBy(0.1), ArrowUp: () => changeSpeed(2), ArrowDown: () => changeSpeed(0.5) };
  const act = actions[e.key];
  if (act) { e.preventDefault(); act(); }
});

function frame() {
  const now = performance.now();
  if (view) drawTimeline();
  for (const v of views.values()) v.draw(now);
  showState();
  requestAnimationFrame(frame);
}

// ───────────────────────── start ─────────────────────────

try {
  showSpeed();
  channels = (await getJson("channels")).map((c, i) => ({ ...c, start: Date.parse(c.first), end: Date.parse(c.last) + 1, color: COLORS[i % COLORS.length] }));
  if (channels.length === 0) throw new Error("The server has no channels yet: ingest events first.");
  for (const c of channels) {
    const label = document.createElement("label");
    label.innerHTML = `<input type="checkbox"><span class="swatch"></span><span></span>`;
    label.querySelector("input").value = c.name;
    label.querySelector("input").checked = c.name === "taxi" || channels.length === 1;
    label.querySelector(".swatch").style.background = c.color;
    label.querySelector("span:last-child").textContent = `${c.name} (${c.count.toLocaleString()})`;
    label.querySelector("input").addEventListener("change", () => loadHistograms().catch((e) => showError(e.message)));
    $("channels").append(label);
  }
  if (!selectedChannels().length) $("channels").querySelector("input").checked = true;
  full = { start: Math.min(...channels.map((c) => c.start)), end: Math.max(...channels.map((c) => c.end)) };
  resetView();
  await loadHistograms();
  const mid = full.start + (full.end - full.start) / 2;
  selection = { start: Math.floor(mid / 60000) * 60000, end: Math.floor(mid / 60000) * 60000 + 3600_000 };
  showWindow();
  if (joinSession) await ensureClient();
} catch (e) {
  showError(e.message);
}
requestAnimationFrame(frame);
