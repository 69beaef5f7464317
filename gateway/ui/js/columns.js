// A panel's columns: extra cells on every row, each the value at a path the
// user added (kept in the address as `col`).

import { button } from "./dom.js";
import { requestDraw } from "./draw.js";
import { showNotice, updateAddress } from "./form.js";
import { field, filterPath, parsePath, walkLeaves } from "./paths.js";

const COLUMNS_MAX = 6;            // extra cells per row; a row is one line
const COLUMN_VALUES_MAX = 4;      // values shown of a path that meets an array

export function setUpColumns(panel) {
  const choice = panel.root.querySelector(".column-field");
  const add = () => {
    if (addColumn(panel, choice.value)) choice.value = "";
  };
  choice.addEventListener("keydown", (key) => {
    if (key.key === "Enter") { key.preventDefault(); add(); }
  });
  panel.root.querySelector(".column-add").onclick = add;
}

// A column of `text` (a path as the language writes it) on every row of the
// panel; false (and a notice) when it is not a path, already shown, or one
// too many.
export function addColumn(panel, text) {
  const keys = parsePath(text);
  if (!keys) {
    if (text.trim()) showNotice(`not a field path: ${text.trim()}`);
    return false;
  }
  const written = filterPath(keys) ?? text.trim();
  if (panel.columns.some((column) => column.text === written)) return true;
  if (panel.columns.length >= COLUMNS_MAX) {
    showNotice(`at most ${COLUMNS_MAX} columns per panel`);
    return false;
  }
  panel.columns.push({ text: written, keys });
  columnsChanged(panel);
  return true;
}

function removeColumn(panel, text) {
  panel.columns = panel.columns.filter((column) => column.text !== text);
  columnsChanged(panel);
  panel.root.querySelector(".column-field").focus();
}

// The chips say which columns are shown; every drawn row is drawn again.
function columnsChanged(panel) {
  const list = panel.root.querySelector(".column-list");
  list.textContent = "";
  for (const column of panel.columns) {
    const chip = document.createElement("li");
    const name = document.createElement("code");
    name.textContent = column.text;
    const remove = button("✕", "column-remove", `Remove column ${column.text}`);
    remove.onclick = () => removeColumn(panel, column.text);
    chip.append(name, " ", remove);
    list.append(chip);
  }
  for (const item of panel.rendered.values()) item.remove();
  panel.rendered = new Map();
  updateAddress();
  requestDraw();
}

// One cell: the value at the column's path (each value, if it meets an array).
export function columnCell(line, column, event) {
  const values = [];
  walkLeaves(field(event, ...column.keys), column.keys, values, COLUMN_VALUES_MAX);
  const text = values.map(({ value }) => (typeof value === "string" ? value : JSON.stringify(value))).join(", ");
  const span = document.createElement("span");
  span.className = "col";
  span.textContent = text || "–";
  span.title = `${column.text}: ${text || "missing"}`;
  line.append(span);
}
