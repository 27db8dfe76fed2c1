// Tivo's benchmark, lead mode measured where it ends: N sessions, each one TivoClient (clients/js/tivo.js) with
// `lead`, in this one Node.js process. Records |release − due| of every event as the client hands it to its
// listener (the first --warm-up-ms, 1 s, discarded, as the driver's meter does) and prints one JSON line (after "connected", and "go" on stdin).
// The driver may run several such processes and merge their reports (every error, so the driver takes the percentiles;
// this process's CPU; its garbage-collection pauses in the measured window; its releases later than 4 ms, and how many of them
// came in stalls of the whole process, with a collection, and what its main thread, its other threads and the server did then).
//   node [--initial-old-space-size=128] lead-clients.mjs --url ws://127.0.0.1:8080/ws?channel=X --sessions 1000 --seconds 10 --lead 100 --warm-up-ms 1000 --play '{"action":"play",…}' [--server-pid N]
import { readFileSync } from "node:fs";
import { PerformanceObserver, constants } from "node:perf_hooks";
import { Worker } from "node:worker_threads";
import { WebSocket } from "ws";
import { TivoClient } from "../../clients/js/tivo.js";

const args = Object.fromEntries(process.argv.slice(2).reduce((pairs, a, i, all) => (a.startsWith("--") ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []));
const sessions = Number(args.sessions ?? 1);
const seconds = Number(args.seconds ?? 10);
const lead = Number(args.lead ?? 100);
const warmUpMs = Number(args["warm-up-ms"] ?? 1000);
const play = JSON.parse(args.play);
const url = new URL(args.url);
const channel = url.searchParams.get("channel");
const base = `${url.protocol}//${url.host}`;
const clock = () => performance.timeOrigin + performance.now();

// Numbers kept in one buffer sized for the run up front (the benchmark's 100 events/s per session and a tenth more; doubled
// if a run delivers more), so the meter allocates nothing per event in the process it measures (an array grown as it went
// reallocated its store a dozen times, about 20 MB in all; no change in the figures was seen from this alone).
class Samples {
  values = new Float64Array(Math.max(1024, Math.ceil(sessions * 110 * (seconds + 1))));
  count = 0;

  push(value) {
    if (this.count === this.values.length) {
      const bigger = new Float64Array(this.values.length * 2);
      bigger.set(this.values);
      this.values = bigger;
    }
    this.values[this.count++] = value;
  }

  all() {
    return this.values.subarray(0, this.count);
  }
}

// Every error; and when each release later than the 4-ms target happened, to find the stalls of the whole process (many
// clients late together).
const errors = new Samples();
const LATE_MS = 4;
const lateAt = new Samples();
const clients = [];
// Garbage-collection pauses of this process in the measured window: the release tail of many clients in one event loop.
const pauses = [];
let measuringFrom = Infinity;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if (performance.timeOrigin + e.startTime >= measuringFrom) pauses.push({ ms: e.duration, major: e.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR, start: performance.timeOrigin + e.startTime });
}).observe({ entryTypes: ["gc"] });

// What this process's main thread (the one event loop of every client) was doing, sampled every 2 ms by a worker thread from
// Linux's scheduler statistics: its time on a core and its time runnable but waiting for one (/proc/<pid>/task/<pid>/schedstat),
// the CPU of the process's other threads and of the server (/proc/<pid>/stat), and the time the machine's host took from its
// virtual cores (the steal column of /proc/stat); those last three in 10-ms ticks. Whatever is neither on a core nor waiting
// for one is time the thread slept, waiting for a timer or a socket. Not on other systems (no such files). The sampler costs
// about 1–2% of a core.
const CORE = { t: 0, ran: 1, waited: 2, stolen: 3, process: 4, server: 5, serverGc: 6 };
const FIELDS = Object.keys(CORE).length;
const serverPid = Number(args["server-pid"] ?? 0);
const coreSamples = (() => {
  try {
    readFileSync(`/proc/self/task/${process.pid}/schedstat`);
  } catch {
    return null;
  }
  const shared = new SharedArrayBuffer(8 * FIELDS * 500 * (seconds + 5) + 16);
  new Worker(`
    const { workerData: { shared, pid, serverPid, fields, origin } } = require("node:worker_threads");
    const fs = require("node:fs");
    const slots = new Float64Array(shared, 16);
    const count = new Int32Array(shared, 0, 2);
    const sleep = new Int32Array(new SharedArrayBuffer(4));
    const task = fs.openSync("/proc/self/task/" + pid + "/schedstat", "r");
    const stat = fs.openSync("/proc/stat", "r");
    const self = fs.openSync("/proc/self/stat", "r");
    const server = serverPid > 0 ? fs.openSync("/proc/" + serverPid + "/stat", "r") : -1;
    const buf = Buffer.alloc(4096);
    const read = (fd) => buf.toString("latin1", 0, fs.readSync(fd, buf, 0, 4096, 0));
    // The .NET server's collector threads (".NET Server GC", one per heap, and ".NET BGC"; those it has when the clients
    // start), their time on a core in ns: finer than its CPU.
    const gcThreads = [];
    if (serverPid > 0) {
      for (const tid of fs.readdirSync("/proc/" + serverPid + "/task")) {
        const dir = "/proc/" + serverPid + "/task/" + tid;
        try {
          const name = fs.readFileSync(dir + "/comm", "latin1");
          if (name.startsWith(".NET Server GC") || name.startsWith(".NET BGC")) gcThreads.push(fs.openSync(dir + "/schedstat", "r"));
        } catch {} // a thread that ended meanwhile
      }
    }
    const gcRan = () => gcThreads.reduce((sum, fd) => sum + Number(read(fd).split(" ", 1)[0]) / 1e6, 0);
    // utime + stime of a process, in ms (the fields after the command's closing parenthesis; 10-ms ticks).
    const cpu = (fd) => {
      if (fd < 0) return 0;
      const f = read(fd);
      const rest = f.slice(f.lastIndexOf(")") + 2).split(" ");
      return (Number(rest[11]) + Number(rest[12])) * 10;
    };
    // The figures counted in 10-ms ticks are read every fifth sample (every 10 ms): more often would not make them finer.
    let ticks = [0, 0, 0];
    for (let i = 0; fields * (i + 1) <= slots.length; i++) {
      const t = origin + performance.now();
      const [ran, waited] = read(task).split(" ").map(Number);
      if (i % 5 === 0) ticks = [Number(read(stat).split("\\n", 1)[0].trim().split(/ +/)[8]) * 10, cpu(self), cpu(server)];
      slots.set([t, ran / 1e6, waited / 1e6, ...ticks, gcRan()], fields * i);
      Atomics.store(count, 0, i + 1);
      Atomics.wait(sleep, 0, 0, 2);
    }`, { eval: true, workerData: { shared, pid: process.pid, serverPid, fields: FIELDS, origin: performance.timeOrigin } }).unref();
  return { slots: new Float64Array(shared, 16), count: new Int32Array(shared, 0, 2) };
})();

/** Over [from, to], in ms: the main thread's time on a core and waiting for one, the host's steal, this process's other threads'
 * CPU (the collector's helpers, the sampler), the server's CPU and its collector threads' (null: not sampled). */
function coreTime(from, to) {
  if (!coreSamples) return null;
  const { slots } = coreSamples;
  const n = Atomics.load(coreSamples.count, 0);
  const at = (t) => {
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (slots[FIELDS * mid] <= t) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
  const a = at(from);
  const b = Math.min(n - 1, at(to) + 1);
  if (b <= a) return null;
  const d = (k) => slots[FIELDS * b + k] - slots[FIELDS * a + k];
  return { span: d(CORE.t), ran: d(CORE.ran), waited: d(CORE.waited), stolen: d(CORE.stolen), otherThreads: d(CORE.process) - d(CORE.ran), server: d(CORE.server), serverGc: d(CORE.serverGc) };
}

for (let i = 0; i < sessions; i++) {
  const client = new TivoClient(base, { channels: [channel], lead, reconnect: false, WebSocket });
  await client.connect();
  clients.push(client);
}

// Connected: the driver starts measuring the server's CPU, then says go.
console.log("connected");
await new Promise((r) => process.stdin.once("data", r));
const started = clock();
const warm = started + warmUpMs;
measuringFrom = warm;
// This process's CPU over the same window as the errors (the driver meters the server's from a second after "go" too).
let cpu0 = process.cpuUsage();
setTimeout(() => { cpu0 = process.cpuUsage(); }, warmUpMs);
for (const client of clients) {
  client.on("event", (e) => {
    const at = clock();
    if (at >= warm) {
      errors.push(at - e.due);
      if (at - e.due > LATE_MS) lateAt.push(at);
    }
  });
  const { action, ...options } = play;
  client.play(options).catch((e) => console.error(`play failed: ${e.message}`));
}

await new Promise((r) => setTimeout(r, (seconds + 1) * 1000));
const wall = (clock() - warm) / 1000;

/** The releases later than LATE_MS: how many came in stalls of the whole process — spans of 10 ms in which a tenth or more of
 * the releases expected then were late (each client late on its own would not make one) — and how many of those stalls had
 * a collection of this process start in them or up to 40 ms before. */
function stalls() {
  const SPAN_MS = 10;
  const perSpan = errors.count / ((wall * 1000) / SPAN_MS);
  const threshold = Math.max(5, perSpan / 10);
  const spans = new Map();
  for (const at of lateAt.all()) {
    const k = Math.floor((at - warm) / SPAN_MS);
    spans.set(k, (spans.get(k) ?? 0) + 1);
  }
  const stalled = [...spans].filter(([, n]) => n >= threshold).sort((a, b) => a[0] - b[0]);
  const runs = [];
  for (const [k, n] of stalled) {
    const last = runs.at(-1);
    if (last && k - last.to <= 2) Object.assign(last, { to: k, late: last.late + n });
    else runs.push({ from: k, to: k, late: n });
  }
  // A young collection comes every 100-250 ms, so a span can hold one by chance: the same spans 250 ms later say how often.
  // A full collection's pause falls in or just after the stall it ends (its marking ran before, beside the clients' work).
  const withGc = (shiftMs, major = false) => runs.filter((r) => {
    const from = warm + r.from * SPAN_MS - 40 + shiftMs;
    const to = warm + (r.to + 1) * SPAN_MS + (major ? 40 : 0) + shiftMs;
    return pauses.some((p) => p.start >= from && p.start <= to && (!major || p.major));
  }).length;
  // What the main thread did in the stalls (from the span before each: a release is late for what held the loop before it), against
  // the same spans 250 ms later (those that fall past the end of the sampling are left out).
  const cores = (shiftMs) => runs.reduce((sum, r) => {
    const time = coreTime(warm + (r.from - 1) * SPAN_MS + shiftMs, warm + (r.to + 1) * SPAN_MS + shiftMs);
    if (time && sum) for (const k of Object.keys(sum)) sum[k] += time[k];
    return sum;
  }, coreSamples ? { span: 0, ran: 0, waited: 0, stolen: 0, otherThreads: 0, server: 0, serverGc: 0 } : null);
  return {
    count: lateAt.count, inStalls: runs.reduce((a, r) => a + r.late, 0), stalls: runs.length, stallsWithGc: withGc(0), shiftedWithGc: withGc(250),
    stallsWithMajor: withGc(0, true), shiftedWithMajor: withGc(250, true),
    cores: cores(0), shiftedCores: cores(250), allCores: coreTime(warm, warm + wall * 1000),
  };
}
const used = process.cpuUsage(cpu0);
for (const client of clients) client.close();
// Every error (ms, two decimals): the driver merges the reports of several processes before taking percentiles.
const report = JSON.stringify({
  errors: Array.from(errors.all(), (e) => Math.round(Math.abs(e) * 100) / 100), early: errors.all().filter((e) => e < -1).length,
  wall, cpuMs: (used.user + used.system) / 1000, late: stalls(),
  gc: {
    count: pauses.length, totalMs: pauses.reduce((a, p) => a + p.ms, 0), maxMs: pauses.reduce((a, p) => Math.max(a, p.ms), 0),
    majorCount: pauses.filter((p) => p.major).length, majorMs: pauses.filter((p) => p.major).reduce((a, p) => a + p.ms, 0),
  },
});
process.stdout.write(report + "\n", () => process.exit(0)); // a pipe is written asynchronously: exit once it is out
