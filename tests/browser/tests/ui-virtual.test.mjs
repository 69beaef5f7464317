// Issue 13, item 1: a virtualized list. Only the rows in view are in the DOM
// while a thousand are kept to scroll back through; a scrolled list holds
// still and says how many arrived ("N new"), and going back to the top shows
// them. Against the demo run.sh starts (~200 events/s).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch, axeViolations, eventually, watchingPage } from "./browser.mjs";

let session;
before(async () => { session = await launch(); });
after(async () => { await session?.close(); });

const ROW_HEIGHT_PX = 26;
const number = (text) => Number(String(text).replace(/\D/g, ""));
const visibleRows = (panel) => panel.locator(".events .event .line").evaluateAll((lines) => {
  const list = lines[0]?.closest(".events");
  if (!list) return [];
  const box = list.getBoundingClientRect();
  return lines.filter((line) => {
    const r = line.getBoundingClientRect();
    return r.top >= box.top && r.bottom <= box.bottom;
  }).map((line) => ({ text: line.textContent, top: Math.round(line.getBoundingClientRect().top - box.top) }))
    .sort((a, b) => a.top - b.top);
});

test("only the rows in view are in the DOM; a scrolled list holds still and counts what is new", async () => {
  const { page, errors } = await watchingPage(session, "*");
  const panel = page.locator(".panel").first();
  await eventually(async () => Number(await panel.getAttribute("data-stored")) >= 600, 20_000, "600 rows stored");
  const stored = Number(await panel.getAttribute("data-stored"));
  const inDom = await panel.locator(".events .event, .events .gap").count();
  const viewRows = await panel.locator(".events").evaluate((list, h) => Math.ceil(list.clientHeight / h), ROW_HEIGHT_PX);
  assert.ok(inDom <= viewRows + 2 * 4 + 1, `${inDom} rows in the DOM for a view of ${viewRows}`);
  const height = await panel.locator(".rows").evaluate((rows) => rows.offsetHeight);
  assert.ok(height >= stored * ROW_HEIGHT_PX, `the list is ${height} px tall for ${stored} rows`);

  // Scrolled 40 rows down: the rows in view stay put while events arrive.
  await panel.locator(".events").evaluate((list, h) => { list.scrollTop = 40 * h; }, ROW_HEIGHT_PX);
  await eventually(async () => (await visibleRows(panel)).length > 3, 2_000, "rows drawn at the scrolled place");
  // The mark sits above the list, so the list is a little shorter once it
  // shows: the rows in view are taken after that (on a loaded machine the
  // first arrival after the scroll can come after the rows are drawn).
  const newMark = panel.locator(".new-mark");
  await eventually(async () => newMark.isVisible(), 5_000, "the new mark");
  const seen = await visibleRows(panel);
  const markedAtSeen = number(await newMark.textContent());
  await eventually(async () => number(await newMark.textContent()) >= markedAtSeen + 100, 5_000,
    "the new mark counting 100 more arrivals");
  assert.match(await newMark.textContent(), /^[\d,]+ new ↑$/);
  assert.deepEqual(await visibleRows(panel), seen, "the rows in view moved while scrolled");
  const heldFor = number(await newMark.textContent());

  // The mark goes back to the top, and the newest rows are shown.
  await newMark.click();
  await eventually(async () => newMark.isHidden(), 2_000, "the mark gone");
  assert.equal(await panel.locator(".events").evaluate((list) => list.scrollTop), 0);
  const newest = await visibleRows(panel);
  assert.notDeepEqual(newest.map((r) => r.text), seen.map((r) => r.text));
  assert.ok(heldFor > 0);
  assert.deepEqual(await axeViolations(page), []);
  assert.deepEqual(errors, []);
  await page.close();
});
