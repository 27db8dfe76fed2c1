// Starts a real Tivo server (server/Tivo.Server: gateway + embedded silo, demo data) for the client tests, on free loopback ports.
import { spawn, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(fileURLToPath(new URL("../../..", import.meta.url)));
const dll = join(root, "server", "Tivo.Server", "bin", "Release", "net10.0", "Tivo.Server.dll");

function freePort() {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => ok(port));
    });
  });
}

/** Starts a gateway; `settings` are more `--Key value` arguments (e.g. ["--Tivo:Gateway:Prototype:Channel", "proto"]). */
export async function startGateway(settings = []) {
  if (!existsSync(dll)) {
    execFileSync("dotnet", ["build", "-c", "Release", join(root, "server", "Tivo.Server", "Tivo.Server.csproj")], { stdio: "ignore" });
  }
  const folder = mkdtempSync(join(tmpdir(), "tivo-js-"));
  const [http, silo, gateway] = [await freePort(), await freePort(), await freePort()];
  const child = spawn("dotnet", [dll,
    "--urls", `http://127.0.0.1:${http}`,
    "--Tivo:Store:Path", join(folder, "tivo.db"),
    "--Tivo:Orleans:SiloPort", String(silo),
    "--Tivo:Orleans:GatewayPort", String(gateway),
    "--Logging:LogLevel:Default", "Warning", ...settings], { cwd: folder, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => { stderr += d; });
  const base = `http://127.0.0.1:${http}`;
  const deadline = Date.now() + 90_000;
  while (true) {
    if (child.exitCode !== null) throw new Error(`the gateway exited (${child.exitCode}): ${stderr}`);
    try {
      const response = await fetch(`${base}/healthz`);
      if (response.ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error(`the gateway did not become healthy: ${stderr}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  // A gateway that ends before its test stops it says why on the test run's output (its log is otherwise kept only when it
  // fails to start): once, a shared gateway died mid-suite and nothing told why.
  let stopping = false;
  child.once("exit", (code, signal) => {
    if (!stopping) process.stderr.write(`# the test gateway on ${base} ended by itself (${code ?? signal}); its log:\n${stderr.slice(-8000)}\n`);
  });
  return {
    http: base,
    ws: `ws://127.0.0.1:${http}`,
    async stop() {
      stopping = true;
      // A gateway that already ended — by its exit code, or by a signal (exitCode stays null then) — is not waited for:
      // waiting for an "exit" already emitted hung the whole run once, after the gateway had died mid-suite.
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await exited;
      }
      rmSync(folder, { recursive: true, force: true });
    },
  };
}
