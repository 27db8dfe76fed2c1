// Debian's Chromium, driven by playwright-core, for the browser tests (browser downloads fail on these machines).
import { existsSync } from "node:fs";
import { chromium } from "playwright-core";

const executablePath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

export async function launchChromium() {
  if (!existsSync(executablePath)) throw new Error(`Chromium is not installed at ${executablePath} (./test.sh installs Debian's chromium).`);
  return chromium.launch({
    executablePath,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}
