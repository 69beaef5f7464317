// Drawing: a virtualized list, once per animation frame at most, of the
// rows in view only; and the one-line row it is made of.

import { ANIMATE_BELOW_RATE, FLOOD_DRAW_MS, FLOOD_RATE, OVERSCAN_ROWS, ROW_HEIGHT_PX } from "./bounds.js";
import { columnCell } from "./columns.js";
import { isHeld, release, showPanelState } from "./panels.js";
import { field } from "./paths.js";
import { panels } from "./state.js";
import { topicTag } from "./topics.js";

let drawRequested = false;
// Drawing can be switched off to profile receiving alone
// (tests/browser/perf-ui.mjs, PERF_PROFILE=nodraw).
export const drawing = { off: false };

export function requestDraw() {
  if (drawRequested || drawing.off) return;
  drawRequested = true;
  requestAnimationFrame(draw);
}

// A flooded panel waits for its turn on a timer, not by asking for every
// animation frame: each frame asked for costs the browser a frame's work.
let drawTimer = null;
function draw(now) {
  drawRequested = false;
  let waitMs = Infinity;
  for (const panel of panels.values()) {
    const dueIn = FLOOD_DRAW_MS - (now - (panel.drawnAt ?? -Infinity));
    if (panel.rate > FLOOD_RATE && dueIn > 0) {
      waitMs = Math.min(waitMs, dueIn);
      continue;
    }
    panel.drawnAt = now;
    drawPanel(panel);
  }
  if (waitMs !== Infinity && drawTimer === null) {
    drawTimer = setTimeout(() => { drawTimer = null; requestDraw(); }, waitMs);
  }
}

// The list is a tall empty box (one ROW_HEIGHT_PX per stored row) with only
// the rows in view drawn in it, recycled from a pool of <li>.
function drawPanel(panel) {
  const held = isHeld(panel);
  if (!held && (panel.held.length || panel.heldLost)) release(panel);
  if (held && panel.heldReason == null) panel.heldReason = panel.paused ? "paused" : "scrolled";
  const mark = panel.root.querySelector(".new-mark");
  const markHidden = !held || panel.heldArrivals === 0;
  if (mark.hidden !== markHidden) mark.hidden = markHidden;
  if (!markHidden) mark.textContent = `${panel.heldArrivals.toLocaleString()} new ↑`;
  if (panel.paused) showPanelState(panel);

  const store = panel.store;
  const height = store.size * ROW_HEIGHT_PX;
  if (panel.rows.style.height !== `${height}px`) panel.rows.style.height = `${height}px`;
  const top = panel.scrollTopPx;
  const first = Math.max(0, Math.floor(top / ROW_HEIGHT_PX) - OVERSCAN_ROWS);
  const last = Math.min(store.size, Math.ceil((top + panel.viewHeight) / ROW_HEIGHT_PX) + OVERSCAN_ROWS);
  const animate = panel.rate < ANIMATE_BELOW_RATE;
  // Keyed by entry: a row that stays in view keeps its element (and focus,
  // and the pointer over it); only rows entering the view are filled.
  const next = new Map();
  for (let i = first; i < last; i++) next.set(store.at(i), i);
  const spare = [];
  for (const [entry, item] of panel.rendered) if (!next.has(entry)) spare.push(item);
  const rendered = new Map();
  for (const [entry, i] of next) {
    let item = panel.rendered.get(entry);
    if (!item) {
      item = spare.pop() ?? panel.rows.appendChild(document.createElement("li"));
      item.topPx = null;
      fillRow(item, entry, animate && !entry.seen, panel.columns);
      item.entry = entry;
    }
    if (item.topPx !== i * ROW_HEIGHT_PX) {
      item.topPx = i * ROW_HEIGHT_PX;
      item.style.top = `${item.topPx}px`;
    }
    entry.seen = true;
    rendered.set(entry, item);
  }
  for (const item of spare) item.remove();
  panel.rendered = rendered;
  // The DOM order is the order on screen, newest first, for reading and Tab;
  // rows that kept their place are not moved (a move would drop focus).
  let cursor = panel.rows.firstChild;
  for (const item of rendered.values()) {
    if (item === cursor) cursor = cursor.nextSibling;
    else panel.rows.insertBefore(item, cursor);
  }

  const skippedCount = store.leftUnseen;
  if (panel.skippedShown !== skippedCount) {
    panel.skippedShown = skippedCount;
    const skipped = panel.root.querySelector(".skipped");
    skipped.hidden = skippedCount === 0;
    skipped.textContent = `${skippedCount.toLocaleString()} not drawn (too many to show; newest shown)`;
  }
  if (panel.root.dataset.stored !== String(store.size)) panel.root.dataset.stored = store.size;
}

function pad(n, width) { return String(n).padStart(width, "0"); }
function clockTime(ms) {
  const d = new Date(ms);
  return `${pad(d.getHours(), 2)}:${pad(d.getMinutes(), 2)}:${pad(d.getSeconds(), 2)}.${pad(d.getMilliseconds(), 3)}`;
}

// One line per row; a gap entry is a line of its own kind.
function fillRow(item, entry, animate, columns) {
  item.textContent = "";
  if (entry.gap) {
    item.className = "gap";
    item.textContent = entry.gap;
    return;
  }
  item.className = "event" + (entry.history ? " history" : "") + (animate ? " fresh" : "");
  item.append(rowLine(entry, columns));
}

export function rowLine(frame, columns) {
  const event = frame.event;
  const line = document.createElement("div");
  line.className = "line";
  line.tabIndex = 0;
  line.setAttribute("role", "button");
  line.setAttribute("aria-expanded", "false");
  const cell = (cls, text) => {
    const span = document.createElement("span");
    span.className = cls;
    span.textContent = text ?? "";
    line.append(span);
  };
  cell("time", clockTime(frame.ts_ms));
  cell("type", String(field(event, "type") ?? "event"));
  cell("who", String(field(event, "user", "id") ?? field(event, "anonymous_id") ?? "anonymous"));
  cell("what", String(field(event, "page", "path") ?? field(event, "search", "query") ?? ""));
  for (const column of columns) columnCell(line, column, event);
  cell("lat", frame.history ? "history" : `${Math.max(0, Math.round(frame.latency_ms))} ms`);
  topicTag(line, frame);
  return line;
}
