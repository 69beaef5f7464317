// Issue 13's target: "gateway restarted under the page: panels back and
// receiving within 5 s of the gateway serving, with no filter crossed".
// A demo of this test's own is stopped and started again on the same port,
// down for 0, 3 and 8 s (the page's backoff grows with the outage; set
// CLICKTAIL_RESTART_DOWNS_MS for other outages); each
// time, the page itself records when each panel got its first live event
// again, and every event since must match its own panel's criterion. The
// figures are printed (perf/results/ui.md).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch, eventually, freePort, startDemo } from "./browser.mjs";

const TARGET_MS = 5_000;
// How long the gateway stays down each round; perf/results/ui.md runs more.
const DOWNS_MS = (process.env.CLICKTAIL_RESTART_DOWNS_MS ?? "0,3000,8000").split(",").map(Number);
const TYPES = ["page_view", "search", "click"];

let session, port, demo;
before(async () => {
  port = await freePort();
  demo = await startDemo(port, 200);
  session = await launch();
});
after(async () => {
  await session?.close();
  await demo?.stop();
});

// Resolves with the time /readyz first answers 200, polled every 20 ms.
async function readyAt(url) {
  for (;;) {
    try { if ((await fetch(url + "/readyz")).ok) return Date.now(); } catch { /* not yet */ }
    await new Promise((done) => setTimeout(done, 20));
  }
}

test("panels are back and receiving within 5 s of a restarted gateway serving, no filter crossed", async () => {
  const page = await session.browser.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  await page.goto(demo.url + "/");
  await page.fill("#history", "0");
  for (const type of TYPES) {
    await page.fill("#criterion", `type == "${type}"`);
    await page.click("#connect");
  }
  await eventually(async () => page.evaluate(() => [...panels.values()].every((panel) => panel.count >= 2)), 20_000,
    "every panel receiving");

  const figures = [];
  for (const downMs of DOWNS_MS) {
    // In the page: per panel, when its first live event on a later socket
    // (a new gateway) arrived, on the page's clock, seen in onEvent itself.
    await page.evaluate(() => {
      window.backAt = new Map();
      window.restartGeneration = link.generation;
      if (window.watched) return;
      window.watched = true;
      const original = onEvent;
      window.onEvent = (frame) => {
        original(frame);
        if (link.generation === window.restartGeneration || frame.history) return;
        const panel = byFilter.get(filterKey(frame.filter));
        if (panel && !window.backAt.has(panel.criterion)) window.backAt.set(panel.criterion, Date.now());
      };
    });
    await demo.stop();
    await eventually(async () => (await page.textContent("#status")) !== "connected", 10_000, "the page to see it gone");
    await new Promise((done) => setTimeout(done, downMs));
    const serving = readyAt(demo.url);
    demo = await startDemo(port, 200);
    const servingAt = await serving;
    await eventually(async () => page.evaluate((n) => window.backAt.size === n, TYPES.length), 20_000,
      "every panel receiving again");
    const backAt = await page.evaluate(() => [...window.backAt.values()]);
    const afterMs = backAt.map((at) => at - servingAt);
    figures.push({ downMs, afterMs, maxMs: Math.max(...afterMs) });

    // No filter crossed: every event a panel holds is of its own type.
    const crossed = await page.evaluate(() => [...panels.values()].flatMap((panel) =>
      panel.store.toArray().filter((frame) => !frame.gap && `type == ${JSON.stringify(frame.event.type)}` !== panel.criterion)
        .map((frame) => `${panel.criterion} got ${frame.event.type}`)));
    assert.deepEqual(crossed, []);
    const filters = await page.locator(".panel").evaluateAll((roots) => roots.map((root) => root.dataset.filter));
    assert.equal(new Set(filters).size, TYPES.length, `one filter each: ${filters}`);
  }
  for (const { downMs, afterMs, maxMs } of figures) {
    console.log(`restart figures: down ${downMs} ms: panels receiving ${afterMs.join(", ")} ms after the gateway served (max ${maxMs} ms)`);
  }
  for (const { downMs, maxMs } of figures) assert.ok(maxMs <= TARGET_MS, `down ${downMs} ms: back after ${maxMs} ms`);
  assert.deepEqual(errors, []);
  await page.close();
});
