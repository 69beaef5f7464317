// Issue 13, item 4: help writing filters. Field paths and frequent values
// are suggested from the events seen so far, likely mistakes are warned
// about, the language is summarised in the page, and the criteria live in
// the address (`?q=…&q=…`). Against the demo run.sh starts.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch, gatewayUrl, axeViolations, eventually, watchingPage } from "./browser.mjs";

let session;
before(async () => { session = await launch(); });
after(async () => { await session?.close(); });

async function pageThatHasSeenEvents() {
  const { page, errors } = await watchingPage(session, "*");
  await eventually(async () => page.evaluate(() => schema.events >= 40), 15_000, "40 events learned");
  return { page, errors };
}

const options = (page) => page.locator("#suggestions [role=option]").allTextContents();

test("paths and values are suggested from the events seen, and chosen from the keyboard", async () => {
  const { page, errors } = await pageThatHasSeenEvents();
  await page.fill("#criterion", "");
  await page.locator("#criterion").pressSequentially("user.");
  assert.ok((await options(page)).includes("user.id"), `suggested: ${await options(page)}`);
  assert.equal(await page.getAttribute("#criterion", "aria-expanded"), "true");
  const choices = await options(page);
  for (let i = 0; i <= choices.indexOf("user.id"); i++) await page.keyboard.press("ArrowDown");
  assert.equal(await page.getAttribute("#criterion", "aria-activedescendant"), `suggestion-${choices.indexOf("user.id")}`);
  await page.keyboard.press("Enter");
  assert.equal(await page.inputValue("#criterion"), "user.id");
  assert.equal(await page.locator(".panel").count(), 1, "Enter on a suggestion chose it, it did not connect");

  await page.locator("#criterion").pressSequentially(' == "u-');
  const values = await options(page);
  // Values of user.id that start so; the gateway's sample may hold the tracker test's "u-tracker".
  assert.ok(values.length > 0 && values.every((v) => /^"u-[\w-]+"$/.test(v)), `values: ${values}`);
  await page.keyboard.press("ArrowDown");
  await page.keyboard.press("Tab");
  assert.equal(await page.inputValue("#criterion"), `user.id == ${values[0]}`);
  assert.ok(await page.locator("#suggestions").isHidden());
  assert.deepEqual(await axeViolations(page), []);
  assert.deepEqual(errors, []);
  await page.close();
});

test("warnings: a number compared with a string field, a field never seen", async () => {
  const { page } = await pageThatHasSeenEvents();
  const warnings = () => page.locator("#warnings li").allTextContents();
  await page.fill("#criterion", "type == 5");
  assert.deepEqual(await warnings(), ["type == 5: type is a string in the events seen so far (e.g. "
    + (await page.evaluate(() => [...schema.paths.get("type").values.keys()][0])) + "), never a number, so this is false for them"]);
  await page.fill("#criterion", 'session.seq == "3"');
  assert.match((await warnings())[0], /^session\.seq == "3": session\.seq is a number in the events seen so far/);
  await page.fill("#criterion", 'user.idd == "u-1"');
  assert.deepEqual(await warnings(), ["no event seen so far has user.idd (did you mean user.id?)"]);
  await page.fill("#criterion", 'type == "search" and exists(user.id)');
  assert.ok(await page.locator("#warnings").isHidden());
  // A warning does not stop Connect.
  await page.fill("#criterion", "type == 5");
  await page.click("#connect");
  await eventually(async () => (await page.locator(".panel[data-filter]").count()) === 2, 10_000, "the warned filter subscribed");
  await page.close();
});

test("the filter language is summarised in the page", async () => {
  const page = await session.browser.newPage();
  await page.goto(gatewayUrl + "/");
  assert.ok(await page.locator("#language table").isHidden());
  await page.click("#language-link");
  await page.click("#language summary");
  assert.ok(await page.locator("#language table").isVisible());
  assert.match(await page.textContent("#language"), /props\["utm\.source"\]/);
  assert.deepEqual(await axeViolations(page), []);
  await page.close();
});

test("the criteria are in the address: ?q= opens every panel, and the address follows the panels", async () => {
  const page = await session.browser.newPage();
  const q = ['type == "search"', 'type == "page_view"'];
  await page.goto(`${gatewayUrl}/?${q.map((c) => `q=${encodeURIComponent(c)}`).join("&")}`);
  await eventually(async () => (await page.locator(".panel[data-filter]").count()) === 2, 10_000, "two panels from the address");
  const shown = await page.locator(".panel .criterion").allTextContents();
  assert.deepEqual(shown.sort(), [...q].sort());
  const address = () => page.evaluate(() => new URLSearchParams(location.search).getAll("q"));
  await page.fill("#criterion", 'type == "booking"');
  await page.click("#connect");
  await eventually(async () => (await address()).length === 3, 5_000, "three criteria in the address");
  assert.deepEqual((await address()).sort(), [...q, 'type == "booking"'].sort());
  await page.locator(".panel", { has: page.locator(".criterion", { hasText: "search" }) }).locator(".remove").click();
  assert.deepEqual((await address()).sort(), ['type == "booking"', 'type == "page_view"']);
  await page.close();
});
