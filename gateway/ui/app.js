// clicktail admin UI: one WebSocket to /ws (docs/protocol.md), one panel per
// filter. Plain browser JavaScript in ES modules, no build step, no
// dependency (the gateway serves these files from its binary:
// gateway/src/http/assets.rs). This file is the entry (index.html loads it
// as a module): it wires the form and opens the panels of the address.
//
// Why it is shaped this way (issue 13):
// - Frames only update numbers and a bounded row store per panel; the DOM is
//   touched once per animation frame, and only for the rows in view (a
//   virtualized list), so a flood costs a few dozen rows per draw and input
//   (Pause, ✕) is never queued behind a backlog of drawing.
// - A panel is the page's own object, keyed for frames by (connection,
//   filter id): a filter id of another connection can never reach it, so ✕
//   can never unsubscribe someone else's filter.
// - The socket reconnects by itself (backoff with jitter) and re-subscribes
//   every panel with time travel from the last event it received.
// - Help (autocomplete, warnings) and aggregates are computed from the
//   stream itself, sampled and bounded, never from a second request.
//
// Layout (js/, served at /js/*):
// - bounds.js: the page's limits (rows kept, rows held, draw rate...);
// - state.js: the shared mutable state: the link, the panels, the maps from
//   filter ids and subscribe refs to panels, the subscribe queue, the clock;
// - dom.js: the page's fixed elements;
// - link.js: the WebSocket, its reconnects, and the clock's heartbeats;
// - frames.js: what the gateway sends, frame by frame, and where events go;
// - rows.js: a panel's row store and its resume seam (no DOM);
// - panels.js: a panel's life: added, paused, cleared, narrowed, removed;
// - draw.js: the virtualized list and its one-line rows;
// - details.js: an opened row, its JSON and its values;
// - topics.js: the form's topic choice and the rows' topic tags;
// - columns.js: a panel's extra columns;
// - export.js: a panel's rows as JSON lines or CSV;
// - aggregates.js: a panel's rate sparkline and top values;
// - counters.js: the numbers refreshed on a tick;
// - paths.js: paths and literals of the filter language (no DOM);
// - schema.js: what the events look like, learned and from GET /schema;
// - help.js: autocomplete and warnings as a criterion is typed;
// - form.js: Connect, the address, notices and the criterion's error.

import { addColumn } from "./js/columns.js";
import { startTicking } from "./js/counters.js";
import { $, disconnectButton, form, input } from "./js/dom.js";
import { drawing } from "./js/draw.js";
import { connect, hideError, sharedView, startPanel } from "./js/form.js";
import { eventHandler } from "./js/frames.js";
import { setUpSuggestions, showSuggestions, showWarnings } from "./js/help.js";
import { disconnect } from "./js/link.js";
import { shownPanel } from "./js/panels.js";
import { filterLiteral, filterPath, parsePath } from "./js/paths.js";
import { loadGatewaySchema, schema } from "./js/schema.js";
import { byFilter, filterKey, link, panels } from "./js/state.js";

const params = new URLSearchParams(location.search);
if (params.get("token")) $("token").value = params.get("token");

startTicking();
setUpSuggestions();
input.addEventListener("focus", loadGatewaySchema);

for (const example of document.querySelectorAll(".example")) {
  example.addEventListener("click", () => {
    input.value = example.textContent;
    hideError();
    showWarnings();
    input.focus();
  });
}

form.addEventListener("submit", connect);
disconnectButton.addEventListener("click", disconnect);
input.addEventListener("input", () => { hideError(); showSuggestions(); showWarnings(); });

// The names the browser tests (tests/browser) and the devtools console read,
// global as they were when app.js was one classic script: a module's names
// are its own. A test wraps `onEvent` by assigning window.onEvent, so that
// name reads and replaces where the frames send events.
Object.assign(window, { panels, schema, link, byFilter, filterKey, filterPath, filterLiteral, parsePath, drawing });
Object.defineProperty(window, "onEvent", {
  get: () => eventHandler.onEvent,
  set: (handler) => { eventHandler.onEvent = handler; },
});

// A shared view: every `q` of the address is a panel, connected at once,
// with the topics (`topic`) and the columns (`col`) that follow it. The same
// panel twice in an address is opened once.
for (const { criterion, topics, columns } of sharedView(params)) {
  if (shownPanel(criterion, topics)) continue;
  const panel = startPanel(criterion, topics, 0, null);
  for (const column of columns) addColumn(panel, column);
}
loadGatewaySchema();
