// Issue 13, bugs 2 and 3: a demo of this test's own, stopped and started
// again on the same port under the page. Panels come back by themselves,
// "unreachable" is not "refused", and ✕ can never hit another filter.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch, eventually, freePort, startDemo } from "./browser.mjs";

let session, port, demo, demoUp = false;

async function startOurDemo() {
  demo = await startDemo(port, 200);
  demoUp = true;
}

async function stopOurDemo() {
  demoUp = false;
  await demo.stop();
}

before(async () => {
  port = await freePort();
  await startOurDemo();
  session = await launch();
});

after(async () => {
  await session?.close();
  await demo?.stop();
});

const panelOf = (page, criterion) => page.locator(".panel", { has: page.locator(".criterion", { hasText: criterion }) });
const countOf = async (panel) => Number((await panel.locator(".count").textContent()).replace(/\D/g, ""));

async function subscribe(page, criterion) {
  await page.fill("#criterion", criterion);
  await page.click("#connect");
}

test("a restarted gateway: unreachable is told apart, and every panel is back and receiving", async () => {
  const page = await session.browser.newPage();
  await page.goto(demo.url + "/");
  await subscribe(page, 'type == "page_view"');
  await eventually(async () => (await panelOf(page, "page_view").locator(".event").count()) >= 3, 15_000, "page views");

  await stopOurDemo();
  await eventually(async () => (await page.textContent("#status")) !== "connected", 10_000, "the page to see the gateway gone");
  // Connect while the gateway is down: it is unreachable, not refusing a token.
  await subscribe(page, 'type == "search"');
  await eventually(async () => /unreachable/.test(await page.textContent("#status")), 10_000,
    "the status to say unreachable");
  assert.equal(await page.isVisible("#token"), false, "no token field for a gateway that is down");

  await startOurDemo();
  const serving = Date.now();
  for (const criterion of ["page_view", "search"]) {
    const panel = panelOf(page, criterion);
    const before = await countOf(panel);
    await eventually(async () => (await countOf(panel)) > before + 2, 15_000, `${criterion} receiving again`);
  }
  console.log(`reconnect figures: panels receiving ${Date.now() - serving} ms after the gateway served`);
  assert.equal(await page.textContent("#status"), "connected");
  await page.close();
});

// Seen once in CI (ui-restart, a gateway restarted at once): the page's
// next handshake hit the old gateway as it exited, its /healthz question
// the new one, which answered, and the page took the failed handshake for a
// refused token, gave up and never reconnected. Here /healthz answers once
// while the gateway is down, as the new gateway did in that race.
test("a failed handshake while /healthz answers once is retried, not taken for a refused token", async () => {
  if (!demoUp) await startOurDemo();
  const page = await session.browser.newPage();
  await page.goto(demo.url + "/");
  await subscribe(page, 'type == "page_view"');
  const panel = panelOf(page, "page_view");
  await eventually(async () => (await countOf(panel)) >= 1, 15_000, "page views");

  let answeredOnce = false;
  await page.route("**/healthz", async (route) => {
    if (answeredOnce) return route.continue();
    answeredOnce = true;
    await route.fulfill({ status: 200, body: "ok" });
  });
  await stopOurDemo();
  await eventually(async () => answeredOnce && /unreachable/.test(await page.textContent("#status")), 10_000,
    "the page to retry and find the gateway unreachable");
  assert.equal(await page.isVisible("#token"), false, "no token field");

  await startOurDemo();
  const before = await countOf(panel);
  await eventually(async () => (await countOf(panel)) > before, 15_000, "page views again");
  await page.close();
});

// The other side of the test above: a gateway that does refuse the page's
// token is still told apart, after its second refusal, and the token field
// it asks for gets the page in.
test("a gateway refusing the token is told apart, and the token given gets the page in", async () => {
  const tokenPort = await freePort();
  const guarded = await startDemo(tokenPort, 200, 1000, ["--admin-token", "s3cret"]);
  try {
    const page = await session.browser.newPage();
    await page.goto(guarded.url + "/");
    await subscribe(page, 'type == "page_view"');
    await eventually(async () => /refused/.test(await page.textContent("#status")), 10_000, "the refusal");
    assert.equal(await page.isVisible("#token"), true, "the token field");
    await page.fill("#token", "s3cret");
    await page.click("#connect");
    await eventually(async () => (await countOf(panelOf(page, "page_view"))) >= 1, 15_000, "page views with the token");
    await page.close();
  } finally {
    await guarded.stop();
  }
});

test("✕ on a panel from before a restart removes that panel at once and never another filter", async () => {
  if (!demoUp) await startOurDemo(); // the test before may have failed with it stopped
  const page = await session.browser.newPage();
  await page.goto(demo.url + "/");
  await subscribe(page, 'type == "page_view"');
  await eventually(async () => (await panelOf(page, "page_view").locator(".event").count()) >= 1, 15_000, "page views");

  await stopOurDemo();
  await startOurDemo();
  // The new gateway numbers its filters from the start again.
  await subscribe(page, 'type == "search"');
  const search = panelOf(page, "search");
  await eventually(async () => (await countOf(search)) >= 1, 15_000, "searches on the new gateway");

  await panelOf(page, "page_view").locator(".remove").click();
  assert.equal(await panelOf(page, "page_view").count(), 0, "the panel is gone at once");
  const after = await countOf(search);
  await eventually(async () => (await search.count()) === 1 && (await countOf(search)) > after + 2, 10_000,
    "the search filter still receiving");
  await eventually(async () => /^1 filter\(s\)/.test(await page.textContent("#totals")), 2_000, "the header to count 1 filter");
  await page.close();
});
