// An opened row: activating a row's line pins a copy of it with the event's
// JSON and a table of its values, each to copy, filter by or narrow by.

import { FIELDS_SHOWN_MAX, PRETTY_BYTES_MAX } from "./bounds.js";
import { button } from "./dom.js";
import { rowLine } from "./draw.js";
import { showNotice, startPanel } from "./form.js";
import { narrowPanel } from "./panels.js";
import { filterLiteral, filterPath, walkLeaves } from "./paths.js";

export function onRowActivated(panel, activation) {
  const line = activation.target.closest(".line");
  if (!line) return;
  activation.preventDefault();
  const item = line.parentElement;
  if (panel.pinned.contains(item)) { item.remove(); return; }
  if (item.entry) openDetails(panel, item.entry);
}

// An opened row is a copy in the panel's pinned list, where no newer row
// pushes it out; activating its line again closes it.
function openDetails(panel, frame) {
  const item = document.createElement("li");
  item.className = "event" + (frame.history ? " history" : "");
  const line = rowLine(frame, panel.columns);
  line.setAttribute("aria-expanded", "true");
  item.append(line);
  let text = JSON.stringify(frame.event, null, 2);
  let cut = 0;
  if (text.length > PRETTY_BYTES_MAX) {
    cut = text.length - PRETTY_BYTES_MAX;
    text = text.slice(0, PRETTY_BYTES_MAX);
  }
  const tools = document.createElement("div");
  tools.className = "detail-tools";
  const copyJson = button("Copy JSON", "copy-json");
  copyJson.onclick = () => copyText(JSON.stringify(frame.event), "the event's JSON");
  tools.append(copyJson, ` received ${new Date(frame.ts_ms).toISOString()}`);
  item.append(tools);
  const pre = document.createElement("pre");
  pre.textContent = text;
  pre.tabIndex = 0; // scrollable, so reachable from the keyboard
  item.append(pre);
  if (cut) {
    const note = document.createElement("div");
    note.className = "truncated";
    note.textContent = `… ${cut} more characters not shown`;
    item.append(note);
  }
  item.append(fieldsTable(panel, frame.event));
  panel.pinned.prepend(item);
  line.focus({ preventScroll: true });
}

// Every value of the event with its path: copy it, filter by it (a new
// panel), or narrow this panel by it (added to its criterion).
function fieldsTable(panel, event) {
  const table = document.createElement("table");
  table.className = "fields";
  const caption = document.createElement("caption");
  caption.textContent = "Values";
  table.append(caption);
  const leaves = [];
  walkLeaves(event, [], leaves, FIELDS_SHOWN_MAX);
  for (const { keys, value } of leaves) {
    const path = filterPath(keys);
    const shown = path ?? keys.join(".");
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = shown;
    const td = document.createElement("td");
    td.textContent = typeof value === "string" ? value : JSON.stringify(value);
    const actions = document.createElement("td");
    const copy = button("Copy", "copy-value", `Copy ${shown}`);
    copy.onclick = () => copyText(td.textContent, shown);
    actions.append(copy);
    if (path !== null) {
      const criterion = `${path} == ${filterLiteral(value)}`;
      const filter = button("Filter", "filter-value", `Filter by ${criterion}`);
      filter.onclick = () => startPanel(criterion, panel.topics, 0, null);
      const narrow = button("Narrow", "narrow-value", `Narrow this panel to ${criterion}`);
      narrow.onclick = () => narrowPanel(panel, criterion);
      actions.append(" ", filter, " ", narrow);
    }
    tr.append(th, td, actions);
    table.append(tr);
  }
  return table;
}

async function copyText(text, what) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // No clipboard API (an insecure origin): the old way.
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("aria-hidden", "true");
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  showNotice(`copied ${what}`);
}
