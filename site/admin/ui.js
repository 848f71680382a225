// The dashboard's small DOM pieces shared by its views (bookings, promo codes, blocked dates, packages): fact lists,
// tables that stack on a phone, form fields that show the API's refusals by field, and amount parsing. No state here:
// what depends on the signed-in owner or the business (money format, time zone, the API) comes in through each
// view's context from dashboard.js.

import { el } from "../kit.js";

export const titleCase = (text) => String(text || "").replace(/_/g, " ").toLowerCase().replace(/^./, (c) => c.toUpperCase());

export function facts(pairs) {
  return el("dl", { class: "kit-facts" }, pairs.filter(Boolean).flatMap(([term, value]) => [el("dt", {}, term), el("dd", {}, value ?? "–")]));
}

/** A table. Below 560 px its rows stack as cards (each cell labelled from its heading); the explicit roles keep it
 * a table for screen readers whatever CSS display it gets. `caption` is read out; `visibleCaption` shows it too. */
export function table(caption, headings, rows, empty, { id, visibleCaption = false, rowAttributes } = {}) {
  if (!rows.length) return el("p", { class: "kit-muted", id: id ? id + "-empty" : null }, empty);
  const kind = (heading) => (/Amount|Uses|Credits|Remaining|Refund/.test(heading) ? "dash-num" : /Why|Reason|Details/.test(heading) ? "dash-wrap" : null);
  return el(
    "div",
    { class: "dash-table-wrap", tabindex: "0", role: "region", "aria-label": caption },
    el(
      "table",
      { class: "dash-table dash-stack", role: "table", id },
      el("caption", { class: visibleCaption ? null : "kit-sr" }, caption),
      el("thead", { role: "rowgroup" }, el("tr", { role: "row" }, headings.map((h) => el("th", { scope: "col", role: "columnheader", class: kind(h) }, h)))),
      el(
        "tbody",
        { role: "rowgroup" },
        rows.map((cells, r) =>
          el("tr", { role: "row", ...(rowAttributes ? rowAttributes(r) : {}) }, cells.map((c, i) => el("td", { role: "cell", class: kind(headings[i]), "data-label": headings[i] }, [c].flat(Infinity)))),
        ),
      ),
    ),
  );
}

/** A labelled input with an optional hint and a slot for the API's refusal of this field (`<id>-error`). */
export function field(id, label, input, hint) {
  const described = [hint ? id + "-hint" : null, id + "-error"].filter(Boolean).join(" ");
  input.setAttribute("aria-describedby", described);
  return el(
    "div",
    { class: "dash-field", "data-field-for": id },
    el("label", { for: id }, label),
    input,
    hint ? el("p", { class: "kit-muted dash-note", id: id + "-hint" }, hint) : null,
    el("p", { class: "kit-error dash-field-error", id: id + "-error", hidden: true }),
  );
}

export function radios(name, legend, choices, checked) {
  return el(
    "fieldset",
    { class: "dash-radios" },
    el("legend", {}, legend),
    choices.map(([value, text]) => el("label", {}, el("input", { type: "radio", name, value, checked: value === checked }), " ", text)),
  );
}

/** Clears the field errors of a form. */
export function clearFieldErrors(form) {
  for (const box of form.querySelectorAll(".dash-field-error")) {
    box.hidden = true;
    box.textContent = "";
  }
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}

/**
 * Shows a refusal (an ApiError, or `{fields}` from the form's own checks) on a form: each field the API names next to its input (`inputs` maps the API's field name,
 * e.g. "max_uses" or "body.max_uses", to an input id), the rest in `summary`. Focuses the first bad input.
 * Answers the text for the form's summary.
 */
export function showFieldErrors(form, error, inputs, explain) {
  clearFieldErrors(form);
  const leftover = [];
  let first = null;
  const fields = (error && error.fields) || []; // an ApiError's, or the form's own checks in the same shape
  for (const { field: name, message } of fields) {
    const key = String(name).replace(/^body\./, "").split(".")[0];
    const input = inputs[key] ? form.querySelector("#" + inputs[key]) : null;
    if (!input) {
      leftover.push(`${name}: ${message}`);
      continue;
    }
    const box = form.querySelector(`#${inputs[key]}-error`);
    box.textContent = box.textContent ? `${box.textContent} ${message}` : message;
    box.hidden = false;
    input.setAttribute("aria-invalid", "true");
    first = first || input;
  }
  if (first) first.focus();
  const head = explain(error);
  return leftover.length ? `${head} ${leftover.join("; ")}` : head;
}

function fractionDigits(currency) {
  return new Intl.NumberFormat("en", { style: "currency", currency: currency.toUpperCase() }).resolvedOptions().maximumFractionDigits;
}

/** A minor-unit amount from what the owner typed ("20", "20.5", "20.50"), or NaN. */
export function toMinor(text, currency) {
  const digits = fractionDigits(currency);
  const clean = String(text).trim().replace(/[^0-9.,]/g, "").replace(",", ".");
  if (!/^\d+(\.\d+)?$/.test(clean)) return NaN;
  const [whole, fraction = ""] = clean.split(".");
  if (fraction.length > digits) return NaN;
  return Number(whole) * 10 ** digits + Number(fraction.padEnd(digits, "0") || 0);
}

export function fromMinor(amount, currency) {
  const digits = fractionDigits(currency);
  return (amount / 10 ** digits).toFixed(digits);
}

/** A view's list as "loading" for assistive technology while it is fetched. */
export async function busy(node, work) {
  node.setAttribute("aria-busy", "true");
  try {
    return await work();
  } finally {
    node.removeAttribute("aria-busy");
  }
}

/** The instant a calendar day (YYYY-MM-DD) starts in a time zone, as an ISO string in UTC. */
export function startOfDayIn(isoDate, timeZone) {
  const [year, month, day] = isoDate.split("-").map(Number);
  const wall = Date.UTC(year, month - 1, day);
  // The zone's offset at an instant: its wall clock read as if UTC, less the instant. Twice, for a day that
  // starts across an offset change.
  const offset = (at) => {
    const parts = Object.fromEntries(
      new Intl.DateTimeFormat("en-US", { timeZone, hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric", second: "numeric" })
        .formatToParts(new Date(at))
        .map((p) => [p.type, Number(p.value)]),
    );
    return Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second) - at;
  };
  let at = wall - offset(wall);
  at = wall - offset(at);
  return new Date(at).toISOString();
}

/** A view's content after its heading, the heading left in place (it may have the focus). */
export function fillView(root, ...nodes) {
  const heading = root.querySelector("h1");
  for (const node of [...root.children]) if (node !== heading) node.remove();
  heading.after(...nodes.filter(Boolean));
}

/** node.replaceChildren, leaving out the null/false of optional parts (replaceChildren would write them as text). */
export function fill(node, ...children) {
  node.replaceChildren(...children.flat().filter((child) => child !== null && child !== undefined && child !== false));
}
