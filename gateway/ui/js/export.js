// Export: a panel's stored rows as a file, JSON lines or CSV, built in the
// page (no request).

import { EXPORT_COLUMNS_MAX } from "./bounds.js";
import { showNotice } from "./form.js";

// The panel's stored rows, oldest first: one event per line, or a CSV with
// a column per path (the first EXPORT_COLUMNS_MAX seen) after the time.
export function exportPanel(panel, format) {
  const frames = panel.store.toArray().filter((entry) => !entry.gap);
  let body, type;
  if (format === "jsonl") {
    body = frames.map((frame) => JSON.stringify(frame.event)).join("\n") + (frames.length ? "\n" : "");
    type = "application/x-ndjson";
  } else {
    body = toCsv(frames);
    type = "text/csv";
  }
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([body], { type }));
  link.download = `clicktail-${panel.criterion.replace(/[^A-Za-z0-9_.-]+/g, "_").slice(0, 60) || "panel"}.${format === "jsonl" ? "jsonl" : "csv"}`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  showNotice(`exported ${frames.length.toLocaleString()} events`);
}

function csvCell(text) {
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function toCsv(frames) {
  const columns = new Map(); // path -> column index
  const rows = frames.map((frame) => {
    const cells = {};
    flattenForCsv(frame.event, "", cells);
    for (const path of Object.keys(cells)) {
      if (!columns.has(path) && columns.size < EXPORT_COLUMNS_MAX) columns.set(path, columns.size);
    }
    return { time: new Date(frame.ts_ms).toISOString(), cells };
  });
  const header = ["ts", ...columns.keys()];
  const lines = [header.map(csvCell).join(",")];
  for (const { time, cells } of rows) {
    lines.push([time, ...[...columns.keys()].map((path) => cells[path] ?? "")].map(csvCell).join(","));
  }
  return lines.join("\r\n") + "\r\n";
}

// Objects are walked; an array or a scalar is one cell (strings as they are,
// the rest as JSON). A non-object event is one column, `event`.
function flattenForCsv(value, prefix, cells) {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    for (const [key, inner] of Object.entries(value)) flattenForCsv(inner, prefix ? `${prefix}.${key}` : key, cells);
    return;
  }
  cells[prefix || "event"] = typeof value === "string" ? value : JSON.stringify(value);
}
