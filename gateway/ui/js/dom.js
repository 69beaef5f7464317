// The page's fixed elements (index.html), and a helper that makes buttons.

export const $ = (id) => document.getElementById(id);
export const form = $("query-form"), input = $("criterion");
export const disconnectButton = $("disconnect"), statusBadge = $("status"), panelsBox = $("panels");

export function button(text, cls, label) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = cls;
  b.textContent = text;
  if (label) b.setAttribute("aria-label", label);
  return b;
}
