// The 2016 prototype's own test page, unmodified, in Debian's Chromium: it opens ws://HOST:PORT/ (the root, no
// channel), sends its play message and appends JSON.parse(data).text for every message. With
// Tivo:Gateway:Prototype:Channel set, Tivo answers in the prototype's shapes, so the page shows the events'
// texts and the status sentences — never "undefined".
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { launchChromium } from "./browser.mjs";
import { startGateway } from "./gateway.mjs";

// The page is served by a server of its own (another origin, as the prototype's test page was); that origin is
// allowed explicitly. It listens on loopback because Chromium refuses pages of public origins to open sockets to
// loopback addresses (local network access checks).
let gateway, browser, pageServer, pageOrigin;

before(async () => {
  pageServer = createServer((request, response) => {
    response.writeHead(200, { "content-type": "text/html" });
    response.end(prototypePage(gateway.ws));
  });
  await new Promise((ok) => pageServer.listen(0, "127.0.0.1", ok));
  pageOrigin = `http://127.0.0.1:${pageServer.address().port}`;
  gateway = await startGateway(["--Tivo:Store:SeedDemoData", "false", "--Tivo:Gateway:Prototype:Channel", "proto",
    "--Tivo:Gateway:AllowedOrigins:0", pageOrigin]);
  const lines = Array.from({ length: 10 }, (_, i) => {
    const n = String(i).padStart(2, "0");
    return JSON.stringify({ ts: `2016-01-01T00:00:${n}.000Z`, data: { text: n } });
  });
  const ingest = await fetch(`${gateway.http}/channels/proto/events`, {
    method: "POST", headers: { "content-type": "application/x-ndjson" }, body: lines.join("\n"),
  });
  assert.equal(ingest.status, 200, await ingest.text());
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await gateway?.stop();
  pageServer?.close();
});

// The prototype's test page, as its README gave it (only HOST:8080 becomes the test gateway's address).
const prototypePage = (ws) => `<!doctype html>
<html><body>
<div id="messages"></div>
<script>
  var ws = new WebSocket('${ws}/');
  ws.onopen = function () {
    ws.send(JSON.stringify({"command":"play","start":"2016-01-01T00:00:00.000Z","end":"2016-01-01T00:00:10.000Z","loop":true,"speed":2}));
  };
  ws.onmessage = function (message) {
    var p = document.createElement('p');
    p.textContent = JSON.parse(message.data).text;
    document.getElementById('messages').appendChild(p);
  };
</script>
</body></html>`;

test("the prototype's test page works unmodified against the compatibility endpoint", async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${pageOrigin}/index.html`);
  // One pass is 10 s of stream at speed 2: 5 s. Wait for the first event of the second pass.
  await page.waitForFunction(() => document.querySelectorAll("#messages p").length >= 13, null, { timeout: 20_000 });
  const texts = await page.$$eval("#messages p", (ps) => ps.map((p) => p.textContent));
  assert.match(texts[0], /^Playing 2016-01-01T00:00:00Z to 2016-01-01T00:00:10Z at speed 2, looping\.$/);
  assert.deepEqual(texts.slice(1, 11), ["00", "01", "02", "03", "04", "05", "06", "07", "08", "09"]);
  assert.match(texts[11], /^Reached the end of the window; looping/);
  assert.equal(texts[12], "00");
  assert.ok(!texts.includes("undefined"), texts.join(" | "));
  assert.deepEqual(errors, []);
  await page.close();
});

test("a browser's plain GET of / still gets the demo page", async () => {
  const response = await fetch(`${gateway.http}/`);
  assert.equal(response.status, 200);
  assert.match(await response.text(), /<html/i);
});
