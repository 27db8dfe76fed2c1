// The demo page in a real browser: Debian's Chromium driven by playwright-core.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { launchChromium } from "./browser.mjs";
import { startGateway } from "./gateway.mjs";

const root = resolve(fileURLToPath(new URL("../../..", import.meta.url)));
let gateway, browser;

before(async () => {
  gateway = await startGateway();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await gateway?.stop();
});

test("the demo page plays a window: events are drawn, the playhead moves, pause and loop work", async () => {
  const page = await browser.newPage({ viewport: { width: 1200, height: 760 } });
  const consoleErrors = [];
  const failedRequests = [];
  page.on("pageerror", (e) => consoleErrors.push(e.message));
  page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
  page.on("response", (r) => { if (r.status() >= 400) failedRequests.push(`${r.status()} ${r.url()}`); });
  await page.goto(`${gateway.http}/`);
  await page.waitForFunction(() => document.querySelector("#channel").value === "taxi" && document.querySelector("#window").textContent.length > 0);

  await page.fill("#speed", "300");
  await page.click("#play");
  await page.waitForFunction(() => window.tivoDemo.eventsDrawn > 10, null, { timeout: 15_000 });
  const first = await page.evaluate(() => window.tivoDemo.playheadX);
  await page.waitForFunction((x) => window.tivoDemo.playheadX > x, first, { timeout: 5_000 });

  await page.click("#pause");
  await page.waitForFunction(() => document.querySelector("#status").textContent === "paused");
  const drawn = await page.evaluate(() => window.tivoDemo.eventsDrawn);
  await page.click("#resume");
  await page.waitForFunction(() => document.querySelector("#status").textContent === "playing");
  await page.waitForFunction((n) => window.tivoDemo.eventsDrawn > n, drawn, { timeout: 10_000 });

  await page.check("#loop");
  await page.click("#play");
  await page.waitForFunction(() => window.tivoDemo.state()?.loop === true, null, { timeout: 10_000 });
  assert.equal(await page.isHidden("#error"), true, "no error is shown");

  mkdirSync(join(root, "artifacts", "screenshots"), { recursive: true });
  await page.screenshot({ path: join(root, "artifacts", "screenshots", "demo.png") });
  assert.deepEqual(consoleErrors, []);
  assert.deepEqual(failedRequests, []); // the favicon included (it was a 404 in the console)
  await page.close();
});

test("the demo page shows the server's error instead of failing silently", async () => {
  const page = await browser.newPage();
  await page.goto(`${gateway.http}/`);
  // The window is chosen once the channel's histogram has loaded; playing before that is refused on the page.
  await page.waitForFunction(() => document.querySelector("#channel").value === "taxi" && document.querySelector("#window").textContent.length > 0);
  await page.fill("#rate", "-5");
  await page.click("#play");
  await page.waitForSelector("#error:not([hidden])");
  assert.match(await page.textContent("#error"), /bad_request: "rate" must be from 0.001 to 1e9/);
  await page.close();
});
