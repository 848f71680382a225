// The reports view (GET /admin/reports): per day or ISO week, for one service or all, the money collected and
// refunded as a chart (plain SVG), the refund rate against its 5% target, payment success against 99% and the
// webhooks' p95 against 5 s; a totals table per service and a table per period (the chart's data, readable by a
// screen reader); and the same report as CSV. Days are the business's days (its time zone).

import { addDays, el, todayIn } from "../kit.js";
import { busy, fill, fillView, table } from "./ui.js";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) if (value !== null && value !== undefined) node.setAttribute(name, String(value));
  for (const child of children.flat()) if (child) node.append(typeof child === "string" ? document.createTextNode(child) : child);
  return node;
}

const percent = (rate) => (rate === null || rate === undefined ? "–" : `${(rate * 100).toFixed(1)}%`);
const seconds = (ms) => (ms === null || ms === undefined ? "–" : `≤ ${(ms / 1000).toLocaleString(undefined, { maximumFractionDigits: 2 })} s`);

/** The currency most of the range's money is in (the chart shows one currency; the tables show each). */
function mainCurrency(totals, fallback) {
  const money = [...(totals.money || [])].sort((a, b) => b.collected - a.collected);
  return money.length ? money[0].currency : fallback;
}

const moneyIn = (figures, currency) => (figures.money || []).find((m) => m.currency === currency) || { collected: 0, refunded: 0, balance_outstanding: 0, refund_rate: null };

export function reportsView(ctx) {
  const root = $("view-reports");
  let built = false;
  let csvUrl = null;

  function build() {
    const zone = ctx.zone();
    const today = todayIn(zone);
    const services = (ctx.config() && ctx.config().services) || [];
    fillView(
      root,
      el("form", { id: "report-form", class: "dash-panel", "aria-labelledby": "report-form-title", novalidate: true, onsubmit: (event) => { event.preventDefault(); load(); } },
        el("h2", { id: "report-form-title" }, "Period"),
        el("div", { class: "dash-filter-grid" },
          el("div", { class: "dash-field" }, el("label", { for: "r-from" }, "From"), el("input", { type: "date", id: "r-from", name: "from", value: addDays(today, -29), required: true })),
          el("div", { class: "dash-field" }, el("label", { for: "r-to" }, "Up to and including"), el("input", { type: "date", id: "r-to", name: "to", value: today, required: true })),
          el("div", { class: "dash-field" }, el("label", { for: "r-service" }, "Service"),
            el("select", { id: "r-service", name: "service_id" }, el("option", { value: "" }, "All services"), services.map((s) => el("option", { value: s.id }, s.name)))),
          el("div", { class: "dash-field" }, el("label", { for: "r-group" }, "Per"),
            el("select", { id: "r-group", name: "group" }, el("option", { value: "day" }, "Day"), el("option", { value: "week" }, "Week (ISO)"))),
        ),
        el("p", { class: "kit-muted dash-note" }, `Days in the business's time zone (${zone}); at most 366 days.`),
        el("p", { id: "report-error", class: "kit-error", role: "alert", hidden: true }),
        el("div", { class: "kit-actions" },
          el("button", { type: "submit", class: "kit-button", id: "report-apply" }, "Show report"),
          el("a", { class: "kit-button kit-button-secondary", id: "report-csv", href: "#reports", "aria-disabled": "true", hidden: true }, "Download CSV"),
        ),
      ),
      el("section", { class: "dash-panel", id: "report-targets-panel", "aria-labelledby": "report-targets-title" },
        el("h2", { id: "report-targets-title" }, "Targets"), el("div", { id: "report-targets" })),
      el("section", { class: "dash-panel", id: "report-chart-panel", "aria-labelledby": "report-chart-title" },
        el("h2", { id: "report-chart-title" }, "Money collected and refunded"),
        // Scrolls sideways on a phone rather than shrinking its labels past reading; focusable so a keyboard can scroll it.
        el("div", { id: "report-chart", class: "rep-chart", tabindex: "0", role: "region", "aria-labelledby": "report-chart-title" })),
      el("section", { class: "dash-panel", "aria-labelledby": "report-totals-title" },
        el("h2", { id: "report-totals-title" }, "Totals per service"), el("div", { id: "report-totals" })),
      el("section", { class: "dash-panel", "aria-labelledby": "report-periods-title" },
        el("h2", { id: "report-periods-title" }, "Per period"), el("div", { id: "report-periods" })),
    );
    built = true;
  }

  function query() {
    const params = new URLSearchParams({ from: $("r-from").value, to: $("r-to").value, group: $("r-group").value });
    if ($("r-service").value) params.set("service_id", $("r-service").value);
    return params;
  }

  async function load() {
    const error = $("report-error");
    error.hidden = true;
    const params = query();
    try {
      const report = await busy($("report-totals"), () => ctx.call(`/admin/reports?${params}`));
      render(report);
      await offerCsv(params, report);
      ctx.say(`Report from ${report.from} to ${report.to} shown.`);
    } catch (failure) {
      error.textContent = `The report could not be loaded: ${ctx.explain(failure)}`;
      error.hidden = false;
    }
  }

  /** A real link to the CSV: fetched with the owner's token (a plain link could not send it), kept as a file URL. */
  async function offerCsv(params, report) {
    const link = $("report-csv");
    const answer = await fetch(`${ctx.api()}/admin/reports?${params}&format=csv`, { headers: { Authorization: `Bearer ${ctx.token()}`, Accept: "text/csv" } });
    if (!answer.ok) return;
    if (csvUrl) URL.revokeObjectURL(csvUrl);
    csvUrl = URL.createObjectURL(new Blob([await answer.text()], { type: "text/csv" }));
    link.href = csvUrl;
    link.download = `report-${report.from}-${report.to}-${report.group}.csv`;
    link.removeAttribute("aria-disabled");
    link.hidden = false;
  }

  function render(report) {
    const all = report.services.find((s) => s.service_id === "all");
    const shown = $("r-service").value ? report.services.find((s) => s.service_id === $("r-service").value) : all;
    const currency = mainCurrency(shown.totals, "usd");
    renderTargets(report, shown, currency);
    renderChart(report, shown, currency);
    const rows = report.services.map((s) => {
      const t = s.totals;
      const m = moneyIn(t, currency);
      return [s.name, String(t.bookings), String(t.no_shows), String(t.late_cancellations), percent(t.conversion_rate), ctx.money(m.collected, currency), ctx.money(m.refunded, currency), percent(m.refund_rate), ctx.money(m.balance_outstanding, currency), percent(t.payment_failure_rate)];
    });
    fill($("report-totals"),
      table(`Totals per service, ${report.from} to ${report.to}`, ["Service", "Bookings", "No-shows", "Late cancellations", "Paid holds", "Amount collected", "Amount refunded", "Refund rate", "Balance outstanding", "Payment failures"], rows, "No service.", { id: "report-totals-table" }));
    const periods = shown.periods.map((p, i) => {
      const m = moneyIn(p, currency);
      const hooks = report.webhooks[i];
      return [p.period, String(p.bookings), String(p.holds), ctx.money(m.collected, currency), ctx.money(m.refunded, currency), percent(m.refund_rate), percent(p.payment_failure_rate), seconds(hooks.p95_ms)];
    });
    fill($("report-periods"),
      table(`${shown.name}, per ${report.group}`, ["Period", "Bookings", "Holds", "Amount collected", "Amount refunded", "Refund rate", "Payment failures", "Webhook p95"], periods, "No period.", { id: "report-periods-table" }));
  }

  function renderTargets(report, shown, currency) {
    const t = shown.totals;
    const m = moneyIn(t, currency);
    const attempts = t.payments_succeeded + t.payments_failed;
    const success = attempts ? t.payments_succeeded / attempts : null;
    const p95 = report.webhooks_total.p95_ms;
    const tile = (id, label, value, target, ok) =>
      el("div", { class: "rep-target", id },
        el("dt", {}, label),
        el("dd", {}, el("span", { class: "rep-value" }, value), " ",
          ok === null ? el("span", { class: "kit-muted" }, "no data yet") : ok === undefined ? null : el("span", { class: "kit-badge", "data-kind": ok ? null : "warn" }, ok ? "On target" : "Off target"),
          el("span", { class: "kit-muted rep-goal" }, target)));
    fill($("report-targets"), el("dl", { class: "dash-totals rep-targets" },
      tile("target-refund", "Refund rate", percent(m.refund_rate), `target under ${percent(report.targets.refund_rate)}`, m.refund_rate === null ? null : m.refund_rate < report.targets.refund_rate),
      tile("target-payments", "Payment success", percent(success), `target over ${percent(report.targets.payment_success_rate)}`, success === null ? null : success > report.targets.payment_success_rate),
      tile("target-webhooks", "Webhook processing p95", seconds(p95), `target under ${report.targets.webhook_p95_ms / 1000} s`, p95 === null ? null : p95 <= report.targets.webhook_p95_ms),
      tile("target-conversion", "Holds paid", percent(t.conversion_rate), `${t.holds_paid} of ${t.holds} holds`, t.conversion_rate === null ? null : undefined),
    ));
  }

  /** Bars of money collected and refunded per period, the refund rate as a line against the 5% target. */
  function renderChart(report, shown, currency) {
    const width = 720, height = 260, left = 64, right = 48, top = 16, bottom = 40;
    const periods = shown.periods;
    const figures = periods.map((p) => moneyIn(p, currency));
    const highest = Math.max(1, ...figures.map((m) => Math.max(m.collected, m.refunded)));
    const slot = (width - left - right) / Math.max(periods.length, 1);
    const bar = Math.max(Math.min(slot / 2 - 1, 18), 1);
    const y = (amount) => top + (height - top - bottom) * (1 - amount / highest);
    const rateY = (rate) => top + (height - top - bottom) * (1 - Math.min(rate, 0.25) / 0.25);  // right axis: 0-25%
    const every = Math.ceil(periods.length / 8);
    const title = `${shown.name}: ${currency.toUpperCase()} collected and refunded per ${report.group}, ${report.from} to ${report.to}`;
    const totalCollected = figures.reduce((sum, m) => sum + m.collected, 0);
    const totalRefunded = figures.reduce((sum, m) => sum + m.refunded, 0);
    const description = `Collected ${ctx.money(totalCollected, currency)}, refunded ${ctx.money(totalRefunded, currency)} in all. The table "Per period" below has every figure.`;
    const ratePoints = figures.map((m, i) => (m.refund_rate === null ? null : `${left + slot * i + slot / 2},${rateY(m.refund_rate)}`)).filter(Boolean);
    const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": "rep-chart-title rep-chart-desc", id: "report-svg", preserveAspectRatio: "xMidYMid meet" },
      svg("title", { id: "rep-chart-title" }, title),
      svg("desc", { id: "rep-chart-desc" }, description),
      [0, 0.5, 1].map((share) => svg("g", {},
        svg("line", { x1: left, x2: width - right, y1: y(highest * share), y2: y(highest * share), class: "rep-grid" }),
        svg("text", { x: left - 6, y: y(highest * share) + 4, class: "rep-axis", "text-anchor": "end" }, ctx.money(Math.round(highest * share), currency)))),
      svg("line", { x1: left, x2: width - right, y1: rateY(0.05), y2: rateY(0.05), class: "rep-target-line" }),
      svg("text", { x: width - right + 4, y: rateY(0.05) + 4, class: "rep-axis" }, "5%"),
      figures.map((m, i) => svg("g", { "data-period": periods[i].period },
        svg("rect", { x: left + slot * i + slot / 2 - bar, y: y(m.collected), width: bar, height: Math.max(y(0) - y(m.collected), 0), class: "rep-collected" }),
        svg("rect", { x: left + slot * i + slot / 2, y: y(m.refunded), width: bar, height: Math.max(y(0) - y(m.refunded), 0), class: "rep-refunded" }),
        i % every === 0 ? svg("text", { x: left + slot * i + slot / 2, y: height - bottom + 16, class: "rep-axis", "text-anchor": "middle" }, periods[i].period.slice(5)) : null)),
      ratePoints.length ? svg("polyline", { points: ratePoints.join(" "), class: "rep-rate" }) : null,
    );
    const legend = el("ul", { class: "rep-legend" },
      el("li", {}, el("span", { class: "rep-key rep-key-collected", "aria-hidden": "true" }), "Collected"),
      el("li", {}, el("span", { class: "rep-key rep-key-refunded", "aria-hidden": "true" }), "Refunded"),
      el("li", {}, el("span", { class: "rep-key rep-key-rate", "aria-hidden": "true" }), "Refund rate (right scale to 25%)"),
      el("li", {}, el("span", { class: "rep-key rep-key-target", "aria-hidden": "true" }), "5% refund target"));
    fill($("report-chart"), chart, legend);
  }

  return {
    async show() {
      if (!built) build();
      await load();
    },
  };
}
