// The form: a criterion becomes a panel (or points at the one showing it);
// the address follows the panels and gives them back; notices and the
// criterion's error are shown under the form.

import { $, disconnectButton, input } from "./dom.js";
import { queueSubscribe } from "./frames.js";
import { hideSuggestions } from "./help.js";
import { openSocket } from "./link.js";
import { addPanel, describe, shownPanel } from "./panels.js";
import { clock, link, panels } from "./state.js";
import { chosenTopics } from "./topics.js";

// A panel for `criterion` on `topics` (null: every topic), subscribed as
// soon as the socket allows; one already shown is pointed at instead (one
// panel per criterion and topics).
export function startPanel(criterion, topics, history, sinceMs) {
  link.wanted = true;
  let panel = shownPanel(criterion, topics);
  if (panel) {
    showNotice(`${describe(criterion, topics)} is already shown`);
    panel.root.scrollIntoView({ block: "nearest" });
  } else {
    panel = addPanel(criterion, topics, history, sinceMs);
    queueSubscribe(panel);
  }
  disconnectButton.disabled = false;
  if (!link.socket) openSocket();
  return panel;
}

export function connect(event) {
  event.preventDefault();
  hideError();
  hideNotice();
  hideSuggestions();
  const criterion = input.value.trim();
  if (!criterion) {
    // Panels waiting (a refused token, the address's ?q=): connect them.
    if (panels.size && !link.socket) { link.wanted = true; link.attempt = 0; openSocket(); return; }
    showError(input.value, 1, "type a criterion first");
    return;
  }
  link.attempt = 0;
  const history = Math.max(0, Math.min(100, parseInt($("history").value, 10) || 0));
  // "from": an absolute time on the gateway's clock, fixed when asked.
  const back = parseInt($("from").value, 10) || 0;
  const sinceMs = back > 0 ? Math.round(Date.now() + clock.offsetMs - back) : null;
  startPanel(criterion, chosenTopics(), history, sinceMs);
}

// The panels' criteria in the address (`?q=…&topic=…&q=…`), so a view can be shared.
export function updateAddress() {
  const next = new URLSearchParams(location.search);
  for (const name of ["q", "topic", "col"]) next.delete(name);
  for (const panel of [...panels.values()]) {
    next.append("q", panel.criterion);
    for (const topic of panel.topics ?? []) next.append("topic", topic);
    for (const column of panel.columns) next.append("col", column.text);
  }
  const query = next.toString();
  history.replaceState(null, "", location.pathname + (query ? `?${query}` : "") + location.hash);
}

// The panels of an address: each `q` in order, with the `topic` and the
// `col` after it (no `topic`: every topic).
export function sharedView(search) {
  const view = [];
  let last = null;
  for (const [name, value] of search) {
    if (name === "q") {
      last = value.trim() ? { criterion: value.trim(), topics: null, columns: [] } : null;
      if (last) view.push(last);
    } else if (name === "topic" && last && value) {
      last.topics = [...(last.topics ?? []), value];
    } else if (name === "col" && last) {
      last.columns.push(value);
    }
  }
  return view;
}

export function showNotice(text) {
  const notice = $("notice");
  notice.textContent = text;
  notice.hidden = false;
}

function hideNotice() { $("notice").hidden = true; }

// The error is shown under the criterion with a caret at its column
// (1-based bytes, FILTERS.md); the input's cursor is put there too.
export function showError(criterion, column, message) {
  const box = $("error"), where = $("error-where");
  where.textContent = "";
  if (column) {
    const bytes = new TextEncoder().encode(criterion);
    const before = new TextDecoder().decode(bytes.slice(0, column - 1));
    const at = new TextDecoder().decode(bytes.slice(column - 1, column)) || " ";
    const after = new TextDecoder().decode(bytes.slice(column));
    where.append(before);
    const mark = document.createElement("span");
    mark.className = "bad-char";
    mark.textContent = at;
    where.append(mark, after, "\n", " ".repeat(before.length));
    const caret = document.createElement("span");
    caret.className = "caret";
    caret.textContent = `^ column ${column}`;
    where.append(caret);
    box.dataset.column = String(column);
    input.focus();
    input.setSelectionRange(before.length, before.length + at.length);
  } else {
    delete box.dataset.column;
  }
  $("error-message").textContent = message;
  box.hidden = false;
  input.classList.add("invalid");
}

export function hideError() {
  $("error").hidden = true;
  input.classList.remove("invalid");
}
