// A page on another origin loads tracker.js from the gateway and sends
// events; an admin subscribed to them sees them arrive through the whole
// pipeline (ingest -> raw topic -> worker -> filtered topic -> gateway).
// With CLICKTAIL_INGEST_URL set (run.sh --services), the page ingests
// through a second gateway node and the admin stays on the first.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { launch, gatewayUrl, artifacts, eventually, serveShop } from "./browser.mjs";

const ingestUrl = process.env.CLICKTAIL_INGEST_URL ?? gatewayUrl;
const run = `run-${Date.now().toString(36)}`;
let session, shopServer, shopOrigin;

// The shop is a real server on another loopback port: the tracker runs
// cross-origin, as on a real site (Chromium refuses loopback requests from
// pages it cannot place in the loopback address space, e.g. routed ones).
function shopPage() {
  return `<!doctype html><title>Shop</title><h1>Shop</h1>
    <script src="${ingestUrl}/tracker.js"></script>
    <script>
      clicktail.identify("u-tracker");
      clicktail.page({ run: "${run}" });
      clicktail.track("add_to_cart", { run: "${run}", sku: "SKU-1" });
      clicktail.track("other", { run: "someone else" });
    </script>`;
}

function offlinePage(offlineRun) {
  return `<!doctype html><title>Offline shop</title>
    <script src="${ingestUrl}/tracker.js"></script>
    <script>
      clicktail.configure({ wsUrl: "ws://127.0.0.1:9/ingest", backoffMinMs: 200, backoffMaxMs: 800 });
      clicktail.track("offline_1", { run: "${offlineRun}" });
      clicktail.track("offline_2", { run: "${offlineRun}" });
    </script>`;
}

before(async () => {
  ({ server: shopServer, origin: shopOrigin } = await serveShop((url) =>
    url.pathname === "/offline.html" ? offlinePage(url.searchParams.get("run")) : shopPage(),
  ));
  session = await launch();
});

after(async () => {
  await session?.close();
  shopServer?.close();
});

test("tracker.js events reach an admin watching them", async () => {
  const admin = await session.browser.newPage();
  await admin.goto(gatewayUrl + "/");
  await admin.fill("#history", "0");
  await admin.fill("#criterion", `props.run == "${run}"`);
  await admin.click("#connect");
  await admin.waitForSelector(".panel[data-filter]", { timeout: 10_000 });
  // Give the workers a moment to load the new filter before events flow.
  await new Promise((done) => setTimeout(done, 1000));

  const shop = await session.browser.newPage();
  await shop.goto(`${shopOrigin}/shop.html`);
  await eventually(
    async () => (await shop.evaluate(() => clicktail.stats())).unacked === 0
      && (await shop.evaluate(() => clicktail.stats())).queued === 0,
    10_000, "the tracker's batches to be acknowledged");

  await eventually(async () => (await admin.$$(".panel .event")).length >= 2, 15_000, "tracked events at the admin");
  await new Promise((done) => setTimeout(done, 500));
  const types = await admin.$$eval(".panel .event .type", (cells) => cells.map((cell) => cell.textContent).sort());
  assert.deepEqual(types, ["add_to_cart", "page_view"]);
  const who = await admin.$$eval(".panel .event .who", (cells) => [...new Set(cells.map((cell) => cell.textContent))]);
  assert.deepEqual(who, ["u-tracker"]);
  await admin.click(".panel .event .line");
  const event = JSON.parse(await admin.textContent(".panel .event pre"));
  assert.match(event.event_id, /^e-/);
  assert.equal(event.props.run, run);
  await admin.screenshot({ path: join(artifacts, "tracker-delivered.png"), fullPage: true });

  // Unload: what is queued goes in one keep-alive POST.
  await shop.evaluate((run) => {
    clicktail.configure({ flushDelayMs: 60_000 });
    clicktail.track("leave", { run });
  }, run);
  await shop.close({ runBeforeUnload: true });
  // Newest first. (Waiting for a row count instead once read a tracker
  // batch delivered twice, at least once, as the unload event.)
  const newest = () => admin.$$eval(".panel .events .event .type", (cells) => cells[0]?.textContent);
  await eventually(async () => (await newest()) === "leave", 15_000, "the unload event on top");
});

test("batches not acknowledged are resent after a reconnect", async () => {
  const offlineRun = `${run}-offline`;
  const admin = await session.browser.newPage();
  await admin.goto(gatewayUrl + "/");
  await admin.fill("#history", "0");
  await admin.fill("#criterion", `props.run == "${offlineRun}"`);
  await admin.click("#connect");
  await admin.waitForSelector(".panel[data-filter]", { timeout: 10_000 });
  await new Promise((done) => setTimeout(done, 1000));

  // The page starts with the gateway unreachable (nothing listens on port
  // 9): its batch stays unacknowledged while the tracker retries.
  const shop = await session.browser.newPage();
  await shop.goto(`${shopOrigin}/offline.html?run=${offlineRun}`);
  await new Promise((done) => setTimeout(done, 1500));
  const offline = await shop.evaluate(() => clicktail.stats());
  assert.equal(offline.connected, false);
  assert.equal(offline.unacked, 1, JSON.stringify(offline));
  // The gateway is back: the next reconnect resends the batch, which is acknowledged.
  await shop.evaluate((url) => clicktail.configure({ wsUrl: url }), ingestUrl.replace(/^http/, "ws") + "/ingest");
  await eventually(async () => (await shop.evaluate(() => clicktail.stats())).unacked === 0, 15_000, "the resend");
  await eventually(async () => (await admin.$$(".panel .event")).length >= 2, 15_000, "the resent events");
  const types = await admin.$$eval(".panel .event .type", (cells) => cells.map((cell) => cell.textContent).sort());
  assert.deepEqual(types, ["offline_1", "offline_2"]);
  await admin.close();
  await shop.close();
});
