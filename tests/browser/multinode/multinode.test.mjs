// Two gateway nodes on Kafka + PostgreSQL (see ../multinode.sh): an admin on
// node A, a shop page whose tracker.js ingests through node B.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { launch, gatewayUrl, artifacts, eventually, repoRoot, serveShop } from "../tests/browser.mjs";

const ingestUrl = process.env.CLICKTAIL_INGEST_URL;
const table = process.env.CLICKTAIL_FILTERS_TABLE;
const run = `mn-${Date.now().toString(36)}`;
let session, shopServer, shopOrigin;

function filterRows() {
  const out = execFileSync("psql", [process.env.CLICKTAIL_DATABASE_URL, "-tAc", `SELECT count(*) FROM ${table}`]);
  return Number(String(out).trim());
}

before(async () => {
  assert.ok(ingestUrl && table, "run through multinode.sh");
  assert.notEqual(new URL(ingestUrl).port, new URL(gatewayUrl).port, "two different nodes");
  ({ server: shopServer, origin: shopOrigin } = await serveShop(() => `<!doctype html><title>Shop</title>
      <script src="${ingestUrl}/tracker.js"></script>
      <script>
        clicktail.identify("u-multinode");
        clicktail.page({ run: "${run}" });
        clicktail.track("booking", { run: "${run}", total: 812.5 });
      </script>`));
  session = await launch();
});

after(async () => {
  await session?.close();
  shopServer?.close();
});

test("admin on node A sees events ingested through node B; disconnect deletes the rows", async () => {
  assert.equal(filterRows(), 0);
  const admin = await session.browser.newPage();
  await admin.goto(gatewayUrl + "/");
  await admin.fill("#history", "0");
  await admin.fill("#criterion", `props.run == "${run}"`);
  await admin.click("#connect");
  await admin.waitForSelector(".panel[data-filter]", { timeout: 15_000 });
  await admin.fill("#criterion", `props.run == "${run}" and type == "booking"`);
  await admin.click("#connect");
  await eventually(async () => (await admin.$$(".panel[data-filter]")).length === 2, 15_000, "two panels");
  assert.equal(filterRows(), 2, "one row per filter");
  // The workers learn of the filters by NOTIFY; give them a moment.
  await new Promise((done) => setTimeout(done, 2000));

  const shop = await session.browser.newPage();
  await shop.goto(`${shopOrigin}/shop.html`);
  await eventually(async () => {
    const stats = await shop.evaluate(() => clicktail.stats());
    return stats.queued === 0 && stats.unacked === 0;
  }, 20_000, "node B to acknowledge the batch (durable in Kafka)");

  // The acknowledged events (identify, page, booking) are on the raw Kafka
  // topic, keyed by user id.
  const raw = String(execFileSync(join(repoRoot, "scripts", "services.sh"), [
    "kafka-tool", "org.apache.kafka.tools.consumer.ConsoleConsumer",
    "--bootstrap-server", process.env.CLICKTAIL_KAFKA_BROKERS, "--topic", process.env.CLICKTAIL_RAW_TOPIC,
    "--from-beginning", "--max-messages", "3", "--timeout-ms", "30000",
    "--formatter-property", "print.key=true", "--formatter-property", "key.separator=|",
  ], { stdio: ["ignore", "pipe", "ignore"] }));
  const lines = raw.trim().split("\n").filter((line) => line.includes(run));
  assert.equal(lines.length, 2, raw);
  for (const line of lines) {
    const [key, value] = [line.slice(0, line.indexOf("|")), line.slice(line.indexOf("|") + 1)];
    assert.equal(key, "u-multinode");
    assert.match(JSON.parse(value).event_id, /^e-/);
  }

  const all = admin.locator(`.panel`).last();
  const bookings = admin.locator(`.panel`).first();
  await eventually(async () => (await all.locator(".event").count()) === 2, 30_000, "both events at node A");
  await eventually(async () => (await bookings.locator(".event").count()) === 1, 10_000, "the booking at node A");
  assert.deepEqual((await all.locator(".event .type").allTextContents()).sort(), ["booking", "page_view"]);
  assert.deepEqual(await bookings.locator(".event .who").allTextContents(), ["u-multinode"]);
  await admin.screenshot({ path: join(artifacts, "multinode-delivered.png"), fullPage: true });

  const metricsB = await (await fetch(`${ingestUrl}/metrics`)).text();
  assert.match(metricsB, /clicktail_gateway_ingest_events_total [1-9]/);

  // Closing the admin's socket (Disconnect) deletes both rows.
  await admin.click("#disconnect");
  await eventually(() => filterRows() === 0, 10_000, "the filter rows to be deleted");

  // A lost connection (the tab is gone without a close frame) too.
  const second = await session.browser.newPage();
  await second.goto(gatewayUrl + "/");
  await second.fill("#criterion", "*");
  await second.click("#connect");
  await second.waitForSelector(".panel[data-filter]", { timeout: 15_000 });
  assert.equal(filterRows(), 1);
  await second.close();
  await eventually(() => filterRows() === 0, 10_000, "the closed tab's row to be deleted");
});
