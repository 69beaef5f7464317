// Issue 13, bug 1: `*` at 3,000 events/s. The page must keep up: shown
// latency stays low, timers run on time, a click on Pause acts at once, and
// under the flood it shows the newest events and says how many it skipped.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { launch, artifacts, eventually, freePort, startDemo } from "./browser.mjs";

const RATE = 3000;
let session, demo, page;

// Installed before the page's own script: long tasks and how late a 100 ms
// timer fires (the main thread's backlog), kept in the page.
function probes() {
  window.__probe = { longtasks: [], lateMs: [], clickToActMs: [] };
  // Click to act, in the page: a trusted click's timeStamp (when the browser
  // took the input) to the animation frame after its handler ran. Playwright's
  // own click adds its CDP round trips, slow while every WebSocket frame is
  // also a CDP event to it.
  addEventListener("click", (click) => {
    const at = click.timeStamp;
    requestAnimationFrame(() => window.__probe.clickToActMs.push(performance.now() - at));
  }, true);
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) window.__probe.longtasks.push(entry.duration);
  }).observe({ type: "longtask", buffered: true });
  let due = performance.now() + 100;
  const tick = () => {
    const now = performance.now();
    window.__probe.lateMs.push(now - due);
    due = now + 100;
    setTimeout(tick, 100);
  };
  setTimeout(tick, 100);
}

before(async () => {
  // Unlimited budget: bug 1 is the page under the whole flood of `*`.
  demo = await startDemo(await freePort(), RATE, 0);
  session = await launch();
  page = await session.browser.newPage();
  await page.addInitScript(probes);
  await page.goto(demo.url + "/");
});

after(async () => {
  await session?.close();
  await demo?.stop();
});

const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] : 0;
};

test("* at 3,000 events/s: the page keeps up and Pause acts at once", async () => {
  await page.fill("#history", "0");
  await page.fill("#criterion", "*");
  await page.click("#connect");
  const panel = page.locator(".panel").first();
  await eventually(async () => Number(await panel.getAttribute("data-stored")) >= 20, 15_000, "rows of *");
  // Let a backlog build, if the page is going to build one, then measure 6 s.
  await new Promise((done) => setTimeout(done, 4000));
  await page.evaluate(() => { window.__probe.longtasks = []; window.__probe.lateMs = []; });
  const countBefore = await page.evaluate(() => performance.now());
  await new Promise((done) => setTimeout(done, 6000));
  const probe = await page.evaluate(() => ({ ...window.__probe, window: performance.now() }));
  const windowMs = probe.window - countBefore;
  const busyMs = probe.longtasks.reduce((sum, ms) => sum + ms, 0);
  const lateP95 = percentile(probe.lateMs, 0.95);
  const latencyText = await panel.locator(".latency").textContent();
  const latencyMs = Number(latencyText.replace(/[^\d]/g, ""));
  const started = Date.now();
  await panel.locator(".pause").click({ timeout: 20_000 });
  await page.waitForFunction(() => document.querySelector(".panel").classList.contains("paused"), null, { timeout: 20_000 });
  const pauseMs = Date.now() - started;
  const pauseInPageMs = Math.round(await page.evaluate(() => window.__probe.clickToActMs.at(-1)));
  const rows = await panel.locator(".event").count();
  const stored = Number(await panel.getAttribute("data-stored"));
  const skipped = await panel.locator(".skipped").textContent().catch(() => "");
  console.log(`load figures: ${JSON.stringify({
    rate: RATE, windowMs: Math.round(windowMs), longtaskCount: probe.longtasks.length,
    longtaskMaxMs: Math.round(Math.max(0, ...probe.longtasks)), longtaskBusyMs: Math.round(busyMs),
    timerLateP95Ms: Math.round(lateP95), shownLatency: latencyText, pauseMs, pauseInPageMs, rows, stored, skipped,
  })}`);
  await page.screenshot({ path: join(artifacts, "ui-load-desktop.png") });
  await panel.locator(".pause").click();
  await page.setViewportSize({ width: 390, height: 844 });
  await new Promise((done) => setTimeout(done, 500));
  await page.screenshot({ path: join(artifacts, "ui-load-phone.png") });

  // Bounds loose enough for a loaded 2-core machine (load average 10-17 when
  // written: there the page's own JS was ~10% of the main thread, the rest the
  // browser's per-message work starved of CPU). The old page missed each:
  // timers 5.3 s late (p95), 300 rows per panel, nothing said about skipping.
  assert.ok(lateP95 < 2000, `timers fired up to ${Math.round(lateP95)} ms late (p95)`);
  assert.ok(pauseInPageMs < 1000, `Pause acted ${pauseInPageMs} ms after the click reached the page`);
  // A virtualized list: the rows in view (and a few beyond) are in the
  // DOM, a thousand are kept to scroll back through.
  assert.ok(rows <= 60, `${rows} rows in the DOM of one panel`);
  assert.equal(stored, 1000, "rows kept to scroll back through");
  assert.match(skipped, /^[\d,]+ not drawn \(too many to show; newest shown\)$/);
});
