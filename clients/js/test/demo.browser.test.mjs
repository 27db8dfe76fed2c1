// The demo page in a real browser (Debian's Chromium through playwright-core), feature by feature, with what it
// draws checked against the store; screenshots at 1280×800 and 390×844 go to artifacts/screenshots (CI artifacts).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { launchChromium } from "./browser.mjs";
import { startGateway } from "./gateway.mjs";

const root = resolve(fileURLToPath(new URL("../../..", import.meta.url)));
const shots = join(root, "artifacts", "screenshots");
let gateway, browser;

before(async () => {
  gateway = await startGateway();
  browser = await launchChromium();
  mkdirSync(shots, { recursive: true });
});

after(async () => {
  await browser?.close();
  await gateway?.stop();
});

/** Opens the page and records what a user would see go wrong: script errors, console errors, failed requests. */
async function open(path = "/", viewport = { width: 1280, height: 800 }) {
  const page = await browser.newPage({ viewport });
  const problems = [];
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error") problems.push(`console: ${m.text()}`); });
  page.on("response", (r) => { if (r.status() >= 400) problems.push(`${r.status()} ${r.url()}`); });
  await page.goto(`${gateway.http}${path}`);
  await page.waitForFunction(() => window.tivoDemo?.full && window.tivoDemo.selection && document.querySelectorAll("#channels input").length >= 4);
  return { page, problems };
}

/** Drags on the timeline from one instant to another, as a user chooses a window. */
async function dragWindow(page, from, to) {
  const box = await page.locator("#timeline").boundingBox();
  const [x0, x1] = await page.evaluate(([a, b]) => [tivoDemo.xOf(Date.parse(a)), tivoDemo.xOf(Date.parse(b))], [from, to]);
  await page.mouse.move(box.x + x0, box.y + 40);
  await page.mouse.down();
  await page.mouse.move(box.x + x1, box.y + 40, { steps: 6 });
  await page.mouse.up();
  return page.evaluate(() => ({ start: new Date(tivoDemo.selection.start).toISOString(), end: new Date(tivoDemo.selection.end).toISOString() }));
}

/** The store's rows of a window (the export route), counted. */
async function stored(channel, start, end) {
  const text = await (await fetch(`${gateway.http}/channels/${encodeURIComponent(channel)}/events?start=${start}&end=${end}`)).text();
  return text.split("\n").filter((l) => l.length > 0).length;
}

test("the timeline covers the whole extent, zooms, pans and resets", async () => {
  const { page, problems } = await open();
  const { view, full } = await page.evaluate(() => ({ view: tivoDemo.view, full: tivoDemo.full }));
  const channels = await (await fetch(`${gateway.http}/channels`)).json();
  assert.equal(full.start, Math.min(...channels.map((c) => Date.parse(c.first))));
  assert.equal(full.end, Math.max(...channels.map((c) => Date.parse(c.last) + 1)));
  assert.deepEqual([view.start, view.end], [full.start, full.end], "all three days, not just the first");

  const box = await page.locator("#timeline").boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + 40);
  for (let i = 0; i < 4; i++) await page.mouse.wheel(0, -120);
  const zoomed = await page.evaluate(() => tivoDemo.view);
  assert.ok(zoomed.end - zoomed.start < (full.end - full.start) / 2, "the wheel zooms in");
  await page.keyboard.down("Shift");
  await page.mouse.down();
  await page.mouse.move(box.x + box.width / 2 - 200, box.y + 40, { steps: 4 });
  await page.mouse.up();
  await page.keyboard.up("Shift");
  const panned = await page.evaluate(() => tivoDemo.view);
  assert.ok(panned.start > zoomed.start, "shift-drag pans");
  assert.ok(Math.abs((panned.end - panned.start) - (zoomed.end - zoomed.start)) < 2, "panning keeps the zoom");
  await page.dblclick("#timeline", { position: { x: 50, y: 40 } });
  assert.deepEqual(await page.evaluate(() => [tivoDemo.view.start, tivoDemo.view.end]), [full.start, full.end]);
  assert.deepEqual(problems, []);
  await page.close();
});

test("several channels play on one clock, each drawn its own way, every event counted against the store", async () => {
  const { page, problems } = await open();
  for (const name of ["sensors", "trades", "alerts"]) await page.check(`#channels input[value="${name}"]`);
  const window = await dragWindow(page, "2016-01-15T14:30:00Z", "2016-01-15T15:30:00Z");
  await page.fill("#duration", "6");
  await page.click("#play");
  await page.waitForFunction(() => tivoDemo.state()?.status === "ended", null, { timeout: 30_000 });
  const drawn = await page.evaluate(() => tivoDemo.drawn);
  for (const name of ["taxi", "sensors", "trades", "alerts"]) {
    assert.equal(drawn[name] ?? 0, await stored(name, window.start, window.end), `${name}: drawn = stored in ${window.start} … ${window.end}`);
  }
  // Each the way its data asks: positions on a map, numbers as time series (uPlot), messages as a log.
  assert.equal(await page.locator('.view[data-channel="taxi"] canvas.map').count(), 1);
  assert.equal(await page.locator('.view[data-channel="sensors"] .uplot').count(), 1);
  assert.equal(await page.locator('.view[data-channel="trades"] .uplot').count(), 1);
  assert.ok(await page.locator('.view[data-channel="alerts"] .log div').count() > 0);
  assert.ok(await page.locator('.view[data-channel="alerts"] .log .sev-warning, .view[data-channel="alerts"] .log .sev-error, .view[data-channel="alerts"] .log .sev-info').count() > 0);
  await page.screenshot({ path: join(shots, "demo-1280x800.png") });
  assert.deepEqual(problems, []);
  await page.close();
});

test("every control: pause, resume, speed on the slider and the keyboard, seek by clicking, stop, loop passes", async () => {
  const { page, problems } = await open();
  await dragWindow(page, "2016-01-15T10:00:00Z", "2016-01-15T11:00:00Z");
  await page.click("#play");
  await page.waitForFunction(() => tivoDemo.state()?.status === "playing");
  await page.click("#pause");
  await page.waitForFunction(() => tivoDemo.state()?.status === "paused");
  await page.keyboard.press("Space");
  await page.waitForFunction(() => tivoDemo.state()?.status === "playing");
  const before = await page.evaluate(() => tivoDemo.state().speed);
  await page.keyboard.press("ArrowUp");
  await page.waitForFunction((s) => Math.abs(tivoDemo.state()?.speed - 2 * s) < 0.5, before);
  await page.locator("#speed").fill("2");    // the log-scale slider: 10^2 = 100×
  await page.locator("#speed").dispatchEvent("change");
  await page.waitForFunction(() => tivoDemo.state()?.speed === 100);
  assert.match(await page.textContent("#speed-value"), /^100×$/);

  // Seek by clicking inside the window on the timeline.
  const box = await page.locator("#timeline").boundingBox();
  const x = await page.evaluate(() => tivoDemo.xOf(Date.parse("2016-01-15T10:45:00Z")));
  await page.mouse.click(box.x + x, box.y + 40);
  await page.waitForFunction(() => { const p = tivoDemo.state()?.playhead; return p && Date.parse(p) >= Date.parse("2016-01-15T10:44:00Z"); });
  await page.click("#stop");
  await page.waitForFunction(() => tivoDemo.state()?.status === "stopped");

  // Loop a short window fitted into 1.5 s at speed 1: the passes show.
  await page.locator("#speed").fill("0");
  await page.check("#loop");
  await page.fill("#duration", "1.5");
  await dragWindow(page, "2016-01-15T10:00:00Z", "2016-01-15T10:30:00Z");
  await page.click("#play");
  await page.waitForFunction(() => tivoDemo.loops >= 2, null, { timeout: 15_000 });
  await page.waitForFunction(() => document.getElementById("iteration").textContent !== "—");
  await page.keyboard.press("Space");
  await page.waitForFunction(() => tivoDemo.state()?.status === "paused");

  // A refused control shows the server's error.
  await page.uncheck("#loop");
  await page.fill("#duration", "");
  await page.fill("#rate", "-5");
  await page.click("#play");
  await page.waitForSelector("#error:not([hidden])");
  assert.match(await page.textContent("#error"), /bad_request: "rate" must be from 0.001 to 1e9/);
  assert.deepEqual(problems, []);
  await page.close();
});

test("watch together: the share link joins the same session as a viewer, and both pages count the watchers", async () => {
  const { page, problems } = await open();
  await dragWindow(page, "2016-01-15T12:00:00Z", "2016-01-15T13:00:00Z");
  await page.click("#play");
  await page.waitForFunction(() => tivoDemo.state()?.status === "playing");
  await page.click("#share");
  const link = await page.evaluate(() => tivoDemo.shareLink);
  assert.match(link, /[?&]session=s-[0-9a-f]+/);
  assert.match(link, /[?&]role=viewer/);
  assert.equal(await page.inputValue("#share-link"), link);

  const viewer = await browser.newPage({ viewport: { width: 390, height: 844 } });
  const viewerProblems = [];
  viewer.on("pageerror", (e) => viewerProblems.push(e.message));
  await viewer.goto(link);
  await viewer.waitForFunction(() => (tivoDemo.drawn.taxi ?? 0) > 0, null, { timeout: 15_000 });
  assert.equal(await viewer.textContent("#role"), "· viewer");
  assert.equal(await viewer.isDisabled("#play"), true, "a viewer gets no controls");
  const sessionWindow = await page.evaluate(() => tivoDemo.state().window.start);
  await viewer.waitForFunction((start) => tivoDemo.selection?.start === Date.parse(start), sessionWindow); // the viewer's timeline shows the session's window
  await page.waitForFunction(() => document.getElementById("watching").textContent.startsWith("2 (1 controlling)"), null, { timeout: 10_000 });
  await viewer.waitForFunction(() => document.getElementById("watching").textContent.startsWith("2 (1 controlling)"), null, { timeout: 10_000 });
  // The controller's pause is the viewer's pause: one clock.
  await page.click("#pause");
  await viewer.waitForFunction(() => tivoDemo.state()?.status === "paused");
  const overflow = await viewer.evaluate(() => document.scrollingElement.scrollWidth);
  assert.ok(overflow <= 390, `the phone-sized page does not scroll sideways (${overflow} px wide)`);
  await viewer.screenshot({ path: join(shots, "demo-390x844.png") });
  assert.deepEqual(viewerProblems, []);
  assert.deepEqual(problems, []);
  await viewer.close();
  await page.close();
});

test("live: a followed channel draws what is ingested and says how far behind live it is", async () => {
  const post = (count) => fetch(`${gateway.http}/channels/live-demo/events`, {
    method: "POST", headers: { "content-type": "application/x-ndjson" },
    body: Array.from({ length: count }, (_, i) => JSON.stringify({ ts: new Date(Date.now() + i).toISOString(), data: { severity: "info", message: `live ${i}` } })).join("\n"),
  });
  assert.equal((await post(1)).status, 200); // the channel exists before the page lists it
  const { page, problems } = await open();
  await page.uncheck('#channels input[value="taxi"]');
  await page.check('#channels input[value="live-demo"]');
  await page.click("#live");
  await page.waitForFunction(() => tivoDemo.state()?.status === "playing" && tivoDemo.state()?.window?.end === null);
  assert.equal((await post(5)).status, 200);
  await page.waitForFunction(() => (tivoDemo.drawn["live-demo"] ?? 0) >= 5, null, { timeout: 15_000 });
  await page.waitForFunction(() => !document.getElementById("behind").hidden);
  assert.match(await page.textContent("#behind-live"), /^\d+\.\d\d s$/);
  assert.deepEqual(problems, []);
  await page.close();
});
