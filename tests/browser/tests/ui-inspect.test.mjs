// Issue 13, item 5: an opened event can be copied whole or one value at a
// time, a value starts a new panel filtering by it (quoted as the filter
// language wants), times carry milliseconds, and a panel exports as JSON
// lines or CSV. Against the demo run.sh starts (~200 events/s).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { launch, gatewayUrl, axeViolations, eventually } from "./browser.mjs";

let session;
before(async () => {
  session = await launch();
  await session.browser.grantPermissions(["clipboard-read", "clipboard-write"], { origin: gatewayUrl });
});
after(async () => { await session?.close(); });

async function searchPanel(page) {
  await page.goto(gatewayUrl + "/");
  await page.fill("#history", "0");
  await page.fill("#criterion", 'type == "search"');
  await page.click("#connect");
  const panel = page.locator(".panel", { has: page.locator(".criterion", { hasText: 'type == "search"' }) });
  await eventually(async () => Number(await panel.getAttribute("data-stored")) >= 5, 20_000, "5 searches");
  return panel;
}

test("paths and literals are written the way the filter language reads them", async () => {
  const page = await session.browser.newPage();
  await page.goto(gatewayUrl + "/");
  const written = await page.evaluate(() => ({
    plain: filterPath(["user", "id"]),
    dotted: filterPath(["props", "utm.source"]),
    spaced: filterPath(["props", "a b", "c"]),
    quote: filterPath(["props", 'say "x"']),
    rootNotBare: filterPath(["9lives"]),
    rootNot: filterPath(["not"]),
    dollar: filterPath(["$meta", "@at", "x-y"]),
    text: filterLiteral('a "quoted"\nline'),
    number: filterLiteral(812.5),
    flag: filterLiteral(true),
    none: filterLiteral(null),
    readBack: parsePath('props["utm.source"].x'),
    unreadable: parsePath("a..b"),
  }));
  assert.deepEqual(written, {
    plain: "user.id",
    dotted: 'props["utm.source"]',
    spaced: 'props["a b"].c',
    quote: 'props["say \\"x\\""]',
    rootNotBare: null,
    rootNot: null,
    dollar: "$meta.@at.x-y",
    text: '"a \\"quoted\\"\\nline"',
    number: "812.5",
    flag: "true",
    none: "null",
    readBack: ["props", "utm.source", "x"],
    unreadable: null,
  });
  await page.close();
});

test("copy the JSON or a value, filter by a value, times with milliseconds", async () => {
  const page = await session.browser.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  const panel = await searchPanel(page);
  const times = await panel.locator(".events .event .time").allTextContents();
  assert.ok(times.length > 0 && times.every((t) => /^\d\d:\d\d:\d\d\.\d{3}$/.test(t)), `times: ${times}`);

  // Scrolled a row down, the list holds still under the pointer.
  await panel.locator(".events").evaluate((list) => { list.scrollTop = 26; });
  await panel.locator(".events .event .line").nth(1).click();
  const opened = panel.locator(".pinned .event");
  await eventually(async () => (await opened.count()) === 1, 2_000, "an opened row");
  const event = JSON.parse(await opened.locator("pre").textContent());

  await opened.locator(".copy-json").click();
  assert.deepEqual(JSON.parse(await page.evaluate(() => navigator.clipboard.readText())), event);
  await opened.getByRole("button", { name: "Copy search.query" }).click();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), event.search.query);
  assert.equal(await page.textContent("#notice"), "copied search.query");

  const criterion = `search.query == ${JSON.stringify(event.search.query)}`;
  await opened.getByRole("button", { name: `Filter by ${criterion}` }).click();
  const byValue = page.locator(".panel", { has: page.locator(".criterion", { hasText: criterion }) });
  await eventually(async () => (await byValue.getAttribute("data-filter")) !== null, 10_000, "the new panel subscribed");
  assert.equal(await byValue.locator(".criterion").textContent(), criterion);
  assert.equal(await page.locator(".panel").count(), 2);

  assert.deepEqual(await axeViolations(page), []);
  await page.setViewportSize({ width: 390, height: 844 });
  await eventually(async () => page.evaluate(() => document.documentElement.scrollWidth <= 390), 2_000, "no sideways scroll");
  assert.deepEqual(errors, []);
  await page.close();
});

test("a panel exports what it holds as JSON lines and as CSV", async () => {
  const page = await session.browser.newPage();
  const panel = await searchPanel(page);
  await panel.locator(".pause").click(); // what it holds stays put
  // `data-stored` is written when the panel is drawn (next animation frame,
  // or later for a busy panel): a frame taken in just before the click may
  // not be counted there yet.
  await eventually(async () => page.evaluate(() => {
    const first = [...panels.values()][0];
    return String(first.store.size) === first.root.dataset.stored;
  }), 5_000, "the paused panel drawn with all it holds");
  const stored = Number(await panel.getAttribute("data-stored"));
  const held = await page.evaluate(() => [...panels.values()][0].store.toArray().map((frame) => frame.event));

  const [jsonl] = await Promise.all([page.waitForEvent("download"), panel.locator(".export-jsonl").click()]);
  assert.match(jsonl.suggestedFilename(), /^clicktail-type_search_\.jsonl$/);
  const lines = readFileSync(await jsonl.path(), "utf8").split("\n");
  assert.equal(lines.pop(), "", "ends with a newline");
  assert.equal(lines.length, stored);
  assert.deepEqual(lines.map((line) => JSON.parse(line)), held);

  const [csv] = await Promise.all([page.waitForEvent("download"), panel.locator(".export-csv").click()]);
  assert.match(csv.suggestedFilename(), /\.csv$/);
  const rows = readFileSync(await csv.path(), "utf8").split("\r\n");
  assert.equal(rows.pop(), "");
  const header = rows[0].split(",");
  assert.equal(header[0], "ts");
  assert.equal(rows.length, stored + 1);
  const typeColumn = header.indexOf("type"), idColumn = header.indexOf("event_id");
  assert.ok(typeColumn > 0 && idColumn > 0, `header: ${rows[0]}`);
  // Event ids and types hold no comma or quote, so a naive split reads them.
  assert.deepEqual(rows.slice(1).map((row) => row.split(",")[idColumn]), held.map((e) => e.event_id));
  assert.ok(rows.slice(1).every((row) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z,/.test(row)));
  await page.close();
});
