// Shared helpers: launch Debian's Chromium through playwright-core (never a
// downloaded browser), with a fresh profile per launch.
import { chromium } from "playwright-core";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createServer } from "node:http";
import { createServer as createNetServer } from "node:net";
import { spawn } from "node:child_process";
import { createRequire } from "node:module";

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, "../../..");
export const artifacts = join(repoRoot, "target", "artifacts");
mkdirSync(artifacts, { recursive: true });

/** The demo (or gateway) under test, from run.sh. */
export const gatewayUrl = process.env.CLICKTAIL_GATEWAY_URL ?? "http://127.0.0.1:18080";

export async function launch() {
  const profile = mkdtempSync(join(tmpdir(), "clicktail-chromium-"));
  // A persistent context is how playwright takes --user-data-dir: a fresh
  // temporary profile per launch, removed afterwards.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1280, height: 860 },
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
    timeout: 60_000,
  });
  return {
    browser: context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Polls `probe` until it returns a truthy value or `ms` pass. */
export async function eventually(probe, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 100));
  }
}

/**
 * A shop: a real HTTP server on another loopback port, so tracker.js runs
 * cross-origin as on a real site. `page(url)` returns the HTML for a request URL.
 */
export async function serveShop(page) {
  const server = createServer((request, response) => {
    response.writeHead(200, { "content-type": "text/html" });
    response.end(page(new URL(request.url, "http://shop")));
  });
  await new Promise((done) => server.listen(0, "127.0.0.1", done));
  return { server, origin: `http://localhost:${server.address().port}` };
}

/** The clicktail binary under test: run.sh exports the one it built. */
export const clicktailBin = process.env.CLICKTAIL_BIN ?? join(repoRoot, "target", "debug", "clicktail");

/** A loopback port free right now (the kernel picks it), to start and restart a demo on. */
export async function freePort() {
  const server = createNetServer();
  await new Promise((done) => server.listen(0, "127.0.0.1", done));
  const { port } = server.address();
  await new Promise((done) => server.close(done));
  return port;
}

/**
 * A `clicktail demo` of this test's own on `port`, ready (`/readyz` answers
 * 200) when the promise resolves. `stop()` kills it and waits for its exit, so
 * the port is free again for a restart.
 */
// `budget`: the session filters' match budget (matches/s, 0 = unlimited);
// the load test lifts it so the page takes the whole flood. `extraArgs`:
// more flags of `clicktail demo` (`--admin-token`, say).
export async function startDemo(port, rate, budget = 1000, extraArgs = []) {
  const args = ["demo", "--listen", `127.0.0.1:${port}`, "--rate", String(rate)];
  args.push("--session-filter-rate-max-per-s", String(budget), ...extraArgs);
  const child = spawn(clicktailBin, args, {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (chunk) => { stderr = (stderr + chunk).slice(-4000); });
  const exited = new Promise((done) => child.once("exit", done));
  const url = `http://127.0.0.1:${port}`;
  await eventually(async () => {
    if (child.exitCode !== null) throw new Error(`demo exited: ${stderr}`);
    try { return (await fetch(url + "/readyz")).ok; } catch { return false; }
  }, 30_000, `the demo on port ${port} to be ready`);
  return {
    url,
    async stop() {
      if (child.exitCode === null) child.kill("SIGKILL");
      await exited;
    },
  };
}

/**
 * A demo of the test's own (`rate` events/s, session filter budget `budget`)
 * and a fresh page on it; `setup(page)` runs before the page loads (to listen
 * to its sockets, say). Both are stopped by the test file's `cleanups`.
 * `errors` collects the page's uncaught errors.
 */
export async function demoAndPage(cleanups, rate, budget, setup) {
  const demo = await startDemo(await freePort(), rate, budget);
  cleanups.push(() => demo.stop());
  const session = await launch();
  cleanups.push(() => session.close());
  const page = await session.browser.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  if (setup) await setup(page);
  await page.goto(demo.url + "/");
  return { page, errors };
}

/**
 * A new page of `session` on the demo run.sh starts, connected and watching
 * `criterion` live (no history). `errors` collects the page's uncaught errors.
 */
export async function watchingPage(session, criterion) {
  const page = await session.browser.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  await page.goto(gatewayUrl + "/");
  await page.fill("#history", "0");
  await page.fill("#criterion", criterion);
  await page.click("#connect");
  return { page, errors };
}

/** axe-core's violations on `page` now, one line each (none: an empty list). */
export async function axeViolations(page) {
  await page.addScriptTag({ path: createRequire(import.meta.url).resolve("axe-core/axe.min.js") });
  return page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ["violations"] });
    return result.violations.map((v) => `${v.id}: ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`);
  });
}
