// A panel per filter: its element (a copy of index.html's
// #panel-template), its state, and what changes it: added, paused, released,
// cleared, narrowed, removed.

import { Aggregates } from "./aggregates.js";
import { ROW_HEIGHT_PX, STORE_MAX } from "./bounds.js";
import { setUpColumns } from "./columns.js";
import { onRowActivated } from "./details.js";
import { $, disconnectButton, panelsBox } from "./dom.js";
import { requestDraw } from "./draw.js";
import { exportPanel } from "./export.js";
import { showNotice, updateAddress } from "./form.js";
import { queueSubscribe, store } from "./frames.js";
import { openSocket, send } from "./link.js";
import { RowStore, Seam } from "./rows.js";
import { byFilter, byRef, filterKey, link, panels, subscribeQueue } from "./state.js";

let nextPanelKey = 1;             // page-local panel keys, never reused

export function addPanel(criterion, topics, history, sinceMs) {
  const root = $("panel-template").content.firstElementChild.cloneNode(true);
  const panel = {
    key: nextPanelKey++, root, criterion, topics, history, sinceMs, filter: null, ref: null, subscribedOnce: false,
    liveSinceMs: null, seam: new Seam(),
    matchRate: null, sampled: null, statsAt: 0,
    lost: null, count: 0, dropped: 0, droppedPerSession: null, paused: false,
    store: new RowStore(STORE_MAX), liveAbove: 0, held: [], heldArrivals: 0, heldLost: 0, heldReason: null,
    scrolled: false, scrollTopPx: 0, focusInside: false, viewHeight: 300, rendered: new Map(),
    tickArrivals: 0, ticks: [], rate: 0, latencies: [], latencyNext: 0,
    list: root.querySelector(".events"), rows: root.querySelector(".rows"), pinned: root.querySelector(".pinned"),
    aggregates: null, columns: [],
  };
  panel.aggregates = new Aggregates(root);
  root.dataset.key = panel.key;
  labelPanel(panel);
  setUpColumns(panel);
  root.querySelector(".pause").onclick = () => togglePause(panel);
  root.querySelector(".clear").onclick = () => clearPanel(panel);
  root.querySelector(".remove").onclick = () => removePanel(panel);
  root.querySelector(".export-jsonl").onclick = () => exportPanel(panel, "jsonl");
  root.querySelector(".export-csv").onclick = () => exportPanel(panel, "csv");
  root.querySelector(".new-mark").onclick = () => {
    panel.list.scrollTop = 0;
    panel.scrollTopPx = 0;
    panel.scrolled = false;
    if (document.activeElement && panel.list.contains(document.activeElement)) document.activeElement.blur();
    panel.focusInside = false;
    if (panel.paused) togglePause(panel); else requestDraw();
  };
  // The scroll position is read here, where layout is clean, never in a
  // draw: a read after another panel's writes would force a layout per panel.
  panel.list.addEventListener("scroll", () => {
    panel.scrollTopPx = panel.list.scrollTop;
    panel.scrolled = panel.scrollTopPx > ROW_HEIGHT_PX / 2;
    requestDraw();
  }, { passive: true });
  // A row under the keyboard's focus must not change under it: hold the list.
  panel.list.addEventListener("focusin", () => { panel.focusInside = true; });
  panel.list.addEventListener("focusout", (focus) => {
    if (!panel.list.contains(focus.relatedTarget)) { panel.focusInside = false; requestDraw(); }
  });
  new ResizeObserver(() => { panel.viewHeight = panel.list.clientHeight || panel.viewHeight; requestDraw(); })
    .observe(panel.list);
  // One listener per list, not one per row: rows are recycled by the draw.
  for (const list of [panel.rows, panel.pinned]) {
    list.addEventListener("click", (click) => onRowActivated(panel, click));
    list.addEventListener("keydown", (key) => {
      if (key.key === "Enter" || key.key === " ") onRowActivated(panel, key);
    });
  }
  panels.set(panel.key, panel);
  panelsBox.prepend(root);
  $("empty").hidden = true;
  showPanelState(panel);
  updateAddress();
  return panel;
}

// ✕ removes the panel at once; its filter is unsubscribed only if it is a
// filter of the current connection (the key says so).
export function removePanel(panel) {
  if (!panels.delete(panel.key)) return;
  panel.root.remove();
  dropSubscription(panel);
  $("empty").hidden = panels.size > 0;
  if (!panels.size && !link.socket) disconnectButton.disabled = true;
  updateAddress();
}

// The panel's filter unsubscribed, if it is this connection's (the key says
// so), and the panel out of the subscribe queue.
function dropSubscription(panel) {
  if (panel.filter !== null && byFilter.get(filterKey(panel.filter)) === panel) {
    byFilter.delete(filterKey(panel.filter));
    send({ type: "unsubscribe", filter: panel.filter });
  }
  const queued = subscribeQueue.indexOf(panel);
  if (queued >= 0) subscribeQueue.splice(queued, 1);
}

export function showPanelState(panel) {
  const state = panel.root.querySelector(".state");
  let text = "";
  if (panel.lost) text = `filter lost: ${panel.lost}`;
  else if (panel.filter === null) text = link.opened ? "subscribing…" : "waiting for the gateway…";
  else if (panel.paused) text = `paused · ${panel.heldArrivals.toLocaleString()} arrived since`;
  state.textContent = text;
  panel.root.classList.toggle("stopped", panel.filter === null);
}

export function isHeld(panel) {
  return panel.paused || panel.scrolled || panel.focusInside;
}

function togglePause(panel) {
  panel.paused = !panel.paused;
  panel.root.classList.toggle("paused", panel.paused);
  panel.root.querySelector(".pause").textContent = panel.paused ? "Resume" : "Pause";
  if (panel.paused) panel.heldReason = "paused";
  showPanelState(panel);
  requestDraw();
}

// What arrived while the list was held joins it, newest on top; what the
// bound let go is a gap row at its place (and a line, since the place may
// be out of view).
export function release(panel) {
  if (panel.heldLost > 0) {
    const paused = panel.heldReason === "paused";
    const text = `${panel.heldLost.toLocaleString()} events arrived while ${paused ? "paused" : "you looked at older rows"} and were not kept`;
    store(panel, { gap: text, seen: false });
    const note = panel.root.querySelector(".gap");
    note.hidden = false;
    note.textContent = text;
  }
  for (const frame of panel.held) store(panel, frame);
  panel.held = [];
  panel.heldArrivals = 0;
  panel.heldLost = 0;
  panel.heldReason = null;
}

function clearPanel(panel) {
  panel.store.clear();
  panel.liveAbove = 0;
  panel.held = [];
  panel.count = 0;
  panel.dropped = 0;
  panel.heldArrivals = 0;
  panel.heldLost = 0;
  panel.latencies = [];
  panel.latencyNext = 0;
  panel.ticks = [];
  panel.tickArrivals = 0;
  panel.aggregates.clear();
  panel.root.querySelector(".gap").hidden = true;
  showPanelState(panel);
  requestDraw();
}

// ---- what a panel filters, and narrowing it -------------------------------

// The criterion, its topic and the ✕'s name, which say what the panel filters.
function labelPanel(panel) {
  panel.root.querySelector(".criterion").textContent = panel.criterion;
  const topic = panel.root.querySelector(".panel-topic");
  topic.textContent = onTopics(panel.topics).trim();
  topic.hidden = !panel.topics;
  panel.root.querySelector(".remove").setAttribute("aria-label", `Remove filter ${panel.criterion}${onTopics(panel.topics)}`);
}

// What a panel asks for, in words: the criterion, and its topics unless all.
export function describe(criterion, topics) {
  return `"${criterion}"${onTopics(topics)}`;
}

// " on a, b" for a panel on chosen topics, "" for one on every topic.
function onTopics(topics) {
  return topics ? ` on ${topics.join(", ")}` : "";
}

// The panel already showing `criterion` on `topics` (null: every topic), if
// any. The same criterion on another topic is another question, so another panel.
export function shownPanel(criterion, topics) {
  const key = JSON.stringify(topics ?? null);
  return [...panels.values()].find((panel) => panel.criterion === criterion && JSON.stringify(panel.topics ?? null) === key);
}

// "Narrow": the panel's criterion gains `and clause`, and the panel is
// subscribed again under it, its rows and counts started afresh and live
// (rows of the wider criterion would not all match). The old filter is
// unsubscribed only if it is this connection's (as ✕ does); a subscribe
// still in flight is orphaned, so its reply unsubscribes what it brings.
export function narrowPanel(panel, clause) {
  const criterion = panel.criterion.trim() === "*" ? clause : `(${panel.criterion}) and ${clause}`;
  if (shownPanel(criterion, panel.topics)) {
    showNotice(`${describe(criterion, panel.topics)} is already shown`);
    return;
  }
  dropSubscription(panel);
  if (panel.ref !== null) byRef.set(panel.ref, { key: null });
  Object.assign(panel, {
    criterion, filter: null, ref: null, lost: null, subscribedOnce: false, sinceMs: null,
    liveSinceMs: null, seam: new Seam(), matchRate: null, sampled: null, statsAt: 0, droppedPerSession: null,
  });
  delete panel.root.dataset.filter;
  panel.root.querySelector(".history-done").hidden = true;
  labelPanel(panel);
  if (panel.paused) togglePause(panel);
  clearPanel(panel);
  updateAddress();
  showNotice(`narrowed to ${criterion}`);
  link.wanted = true;
  queueSubscribe(panel);
  disconnectButton.disabled = false;
  if (!link.socket) openSocket();
}
