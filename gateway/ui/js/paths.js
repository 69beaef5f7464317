// Paths: the value at a path of an event, the leaves of an event, and paths
// and literals written and read as the filter language does
// (docs/filters.md). No DOM here.

// The value at the keys `path` of `value`; undefined where the path stops.
export function field(value, ...path) {
  for (const key of path) {
    if (value === null || typeof value !== "object") return undefined;
    value = value[key];
  }
  return value;
}

// Leaves (strings, numbers, booleans, null) with the keys that lead to them.
// A step over an array keeps the path (docs/filters.md: a path applies to
// every element), so `tags == "x"` matches an element of `tags`.
export function walkLeaves(value, keys, out, max) {
  if (out.length >= max) return;
  if (Array.isArray(value)) {
    for (const element of value) walkLeaves(element, keys, out, max);
  } else if (value !== null && typeof value === "object") {
    for (const [key, inner] of Object.entries(value)) walkLeaves(inner, [...keys, key], out, max);
  } else if (keys.length) {
    out.push({ keys, value });
  }
}

const SEGMENT = /^[A-Za-z_$@][A-Za-z0-9_$@-]*$/;

// A path in the filter language (docs/filters.md): bare segments joined by
// dots, a key that is not a segment written `["key"]`. The first key must be
// bare and not `not`, so some root keys cannot be written: null then.
export function filterPath(keys) {
  if (!keys.length || !SEGMENT.test(keys[0]) || keys[0].toLowerCase() === "not") return null;
  let path = keys[0];
  for (const key of keys.slice(1)) path += SEGMENT.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
  return path;
}

// A literal: JSON's string escapes and number grammar are the language's.
export function filterLiteral(value) {
  return JSON.stringify(value);
}

// The keys of a path written as in the filter language (`user.id`,
// `props["utm.source"]`); null for an empty or unreadable one.
export function parsePath(text) {
  const keys = [];
  const step = /\s*(?:(^|\.)\s*([A-Za-z_$@][A-Za-z0-9_$@-]*)|\[\s*("(?:[^"\\]|\\.)*")\s*\])/y;
  let at = 0;
  text = text.trim();
  while (at < text.length) {
    step.lastIndex = at;
    const found = step.exec(text);
    if (!found || (found[2] !== undefined && found[1] === "" && at > 0)) return null;
    try { keys.push(found[2] ?? JSON.parse(found[3])); } catch { return null; }
    at = step.lastIndex;
  }
  return keys.length ? keys : null;
}
