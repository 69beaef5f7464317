// Help while typing a criterion, from what the events look like (schema.js):
// suggestions for the word at the cursor, and warnings of likely mistakes.

import { $, input } from "./dom.js";
import { SCHEMA_MIN_EVENTS, schema } from "./schema.js";

// ---- autocomplete ---------------------------------------------------------

const SUGGESTIONS_MAX = 8;

// What the word at the cursor could become: a path (at the start of an
// operand), or a value of the path just compared with `==`, `!=`, `in [`...
function suggestionsAt(text, caret) {
  const before = text.slice(0, caret);
  const valueContext = /([A-Za-z_$@][\w$@.-]*(?:\["(?:[^"\\]|\\.)*"\])*)\s*(?:==|=|!=|in\s*\[(?:[^\]]*,)?|startswith|endswith|contains)\s*("(?:[^"\\]|\\.)*|[\w.-]*)$/i.exec(before);
  if (valueContext) {
    const known = schema.paths.get(valueContext[1]);
    if (!known) return null;
    const typed = valueContext[2];
    const values = [...known.values].sort((a, b) => b[1] - a[1]).map(([literal]) => literal)
      .filter((literal) => literal.startsWith(typed) && literal !== typed);
    return { start: caret - typed.length, options: values.slice(0, SUGGESTIONS_MAX) };
  }
  const pathContext = /(^|[\s(!,])([A-Za-z_$@][\w$@.-]*)$/.exec(before);
  if (!pathContext) return null;
  const typed = pathContext[2];
  const paths = [...schema.paths.keys()].filter((path) => path.startsWith(typed) && path !== typed).sort();
  return { start: caret - typed.length, options: paths.slice(0, SUGGESTIONS_MAX) };
}

const suggest = { box: $("suggestions"), options: [], active: -1, start: 0 };

export function showSuggestions() {
  const found = suggestionsAt(input.value, input.selectionStart ?? input.value.length);
  suggest.options = found?.options ?? [];
  suggest.start = found?.start ?? 0;
  suggest.active = -1;
  suggest.box.textContent = "";
  suggest.options.forEach((text, i) => {
    const option = document.createElement("li");
    option.id = `suggestion-${i}`;
    option.setAttribute("role", "option");
    option.setAttribute("aria-selected", "false");
    option.textContent = text;
    // mousedown, not click: the input must keep its focus.
    option.addEventListener("mousedown", (press) => { press.preventDefault(); acceptSuggestion(i); });
    suggest.box.append(option);
  });
  const open = suggest.options.length > 0;
  suggest.box.hidden = !open;
  input.setAttribute("aria-expanded", String(open));
  input.removeAttribute("aria-activedescendant");
}

export function hideSuggestions() {
  suggest.options = [];
  suggest.box.hidden = true;
  input.setAttribute("aria-expanded", "false");
  input.removeAttribute("aria-activedescendant");
}

function moveSuggestion(step) {
  const n = suggest.options.length;
  suggest.active = (suggest.active + step + n) % n;
  [...suggest.box.children].forEach((option, i) => option.setAttribute("aria-selected", String(i === suggest.active)));
  input.setAttribute("aria-activedescendant", `suggestion-${suggest.active}`);
}

function acceptSuggestion(i) {
  const caret = input.selectionStart ?? input.value.length;
  const text = suggest.options[i];
  input.value = input.value.slice(0, suggest.start) + text + input.value.slice(caret);
  const at = suggest.start + text.length;
  input.setSelectionRange(at, at);
  hideSuggestions();
  showWarnings();
}

// The criterion's arrow keys move through the suggestions, Enter or Tab
// takes one, Escape or leaving the criterion closes them.
export function setUpSuggestions() {
  input.addEventListener("keydown", (key) => {
    if (suggest.box.hidden) return;
    if (key.key === "ArrowDown" || key.key === "ArrowUp") {
      key.preventDefault();
      moveSuggestion(key.key === "ArrowDown" ? 1 : -1);
    } else if ((key.key === "Enter" || key.key === "Tab") && suggest.active >= 0) {
      key.preventDefault();
      acceptSuggestion(suggest.active);
    } else if (key.key === "Escape") {
      hideSuggestions();
    }
  });
  input.addEventListener("blur", hideSuggestions);
}

// ---- warnings -------------------------------------------------------------

// Likely mistakes, from the events seen so far: a comparison whose literal
// has another JSON type than every value seen at that path (false for every
// such event), or a path no event had. They warn; Connect still subscribes.
function warningsFor(text) {
  const warnings = [];
  if (schema.events < SCHEMA_MIN_EVENTS) return warnings;
  const comparison = /([A-Za-z_$@][\w$@-]*(?:\.[A-Za-z_$@][\w$@-]*|\["(?:[^"\\]|\\.)*"\])*)\s*(==|!=|<=|>=|=|<|>)\s*("(?:[^"\\]|\\.)*"|-?\d[\d.eE+-]*|true|false|null)/gi;
  const seen = new Set();
  for (const [, path, operator, literal] of text.matchAll(comparison)) {
    seen.add(path);
    const known = schema.paths.get(path);
    if (!known) continue;
    const type = literal.startsWith('"') ? "string" : /^(true|false)$/i.test(literal) ? "boolean"
      : /^null$/i.test(literal) ? "null" : "number";
    if (!known.types.has(type)) {
      const types = [...known.types].join(" or ");
      const example = [...known.values.keys()][0];
      warnings.push(`${path} ${operator} ${literal}: ${path} is a ${types} in the events seen so far`
        + (example ? ` (e.g. ${example})` : "") + `, never a ${type}, so this is false for them`);
    }
  }
  const paths = /(?:^|[\s(!])(?:exists\s*\(\s*)?([A-Za-z_$@][\w$@-]*(?:\.[A-Za-z_$@][\w$@-]*|\["(?:[^"\\]|\\.)*"\])*)\s*(?=\)|==|!=|<=|>=|=|<|>|\s+(?:in|contains|startswith|endswith|matches)\b)/gi;
  for (const [, path] of text.matchAll(paths)) {
    if (schema.paths.has(path) || [...schema.paths.keys()].some((known) => known.startsWith(path + ".") || known.startsWith(path + "["))) continue;
    if (warnings.some((w) => w.startsWith(`no event seen so far has ${path}`))) continue;
    const near = [...schema.paths.keys()].find((known) => editDistance(known, path) <= 2);
    warnings.push(`no event seen so far has ${path}` + (near ? ` (did you mean ${near}?)` : ""));
  }
  return warnings;
}

function editDistance(a, b) {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}

export function showWarnings() {
  const warnings = warningsFor(input.value);
  const box = $("warnings");
  box.textContent = "";
  for (const text of warnings) {
    const line = document.createElement("li");
    line.textContent = text;
    box.append(line);
  }
  box.hidden = warnings.length === 0;
}
