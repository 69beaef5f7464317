// What the events look like: their paths, JSON types and frequent values,
// learned from a sample of what this page receives and from the gateway's
// own sample (GET /schema). Autocomplete and warnings (help.js) read it.

import { $, input } from "./dom.js";
import { showSuggestions } from "./help.js";
import { filterLiteral, filterPath, walkLeaves } from "./paths.js";

const SCHEMA_LEARN_PER_TICK = 10; // events learned from per 250 ms, whatever the rate
const SCHEMA_PATHS_MAX = 400;
const SCHEMA_VALUES_MAX = 40;     // distinct values kept per path
const SCHEMA_VALUE_CHARS_MAX = 80;
export const SCHEMA_MIN_EVENTS = 20; // "never seen" is said only after this many events

// Learned from a sample of the events all panels receive (a few dozen a
// second): the paths that exist, their JSON types and their frequent values.
export const schema = {
  paths: new Map(),   // path -> { types: Set, values: Map(literal -> count) }
  events: 0,
  budget: SCHEMA_LEARN_PER_TICK,
  listed: 0,          // paths in the <datalist> of fields

  learn(event) {
    if (this.budget <= 0) return;
    this.budget--;
    this.events++;
    const leaves = [];
    walkLeaves(event, [], leaves, 200);
    for (const { keys, value } of leaves) {
      const path = filterPath(keys);
      if (path === null) continue;
      let known = this.paths.get(path);
      if (!known) {
        if (this.paths.size >= SCHEMA_PATHS_MAX) continue;
        known = { types: new Set(), values: new Map() };
        this.paths.set(path, known);
      }
      known.types.add(value === null ? "null" : typeof value);
      if (typeof value === "string" && value.length > SCHEMA_VALUE_CHARS_MAX) continue;
      const literal = filterLiteral(value);
      if (known.values.has(literal) || known.values.size < SCHEMA_VALUES_MAX) {
        known.values.set(literal, (known.values.get(literal) ?? 0) + 1);
      }
    }
  },

  // Called from the tick: the learning budget refills, new paths are offered.
  refreshPathList() {
    this.budget = SCHEMA_LEARN_PER_TICK;
    if (this.paths.size === this.listed) return;
    this.listed = this.paths.size;
    const list = $("field-paths");
    list.textContent = "";
    for (const path of [...this.paths.keys()].sort()) {
      const option = document.createElement("option");
      option.value = path;
      list.append(option);
    }
  },
};

// ---- the gateway's schema sample ------------------------------------------

const GATEWAY_SCHEMA_RETRY_MS = 2000;

// Before this page has seen events, the gateway's sample of its recent
// matches (GET /schema, admitted as /ws is: docs/protocol.md) feeds the
// suggestions and warnings. Asked on load, on connect and when the
// criterion gets focus, until a sample with events came.
const gatewaySchema = { loaded: false, askedAt: -Infinity };

export async function loadGatewaySchema() {
  if (gatewaySchema.loaded || Date.now() - gatewaySchema.askedAt < GATEWAY_SCHEMA_RETRY_MS) return;
  gatewaySchema.askedAt = Date.now();
  const token = $("token").value;
  try {
    const response = await fetch("/schema" + (token ? `?token=${encodeURIComponent(token)}` : ""), { cache: "no-store" });
    if (!response.ok) return;
    const sample = await response.json();
    if (!(sample.events > 0) || !Array.isArray(sample.paths)) return;
    gatewaySchema.loaded = true;
    mergeSchemaSample(sample);
  } catch {
    // No gateway yet, or an old one: the page learns from its own events.
  }
}

// The sample's counts join the page's own, within the page's bounds.
function mergeSchemaSample(sample) {
  schema.events += sample.events;
  for (const { path, types, values } of sample.paths) {
    if (typeof path !== "string") continue;
    let known = schema.paths.get(path);
    if (!known) {
      if (schema.paths.size >= SCHEMA_PATHS_MAX) continue;
      known = { types: new Set(), values: new Map() };
      schema.paths.set(path, known);
    }
    for (const type of types ?? []) known.types.add(type);
    for (const { literal, count } of values ?? []) {
      if (known.values.has(literal) || known.values.size < SCHEMA_VALUES_MAX) {
        known.values.set(literal, (known.values.get(literal) ?? 0) + (count || 1));
      }
    }
  }
  if (document.activeElement === input) showSuggestions();
}
