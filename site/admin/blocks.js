// The blocked dates view: block a day or a range (the confirm dialog says what happens to the bookings on it), then
// what the block did: how many bookings moved to their backup time, how many were cancelled with a full refund, and
// the clients to tell, each booking linked to its detail. The list shows every block with its outcome; unblocking is
// confirmed first. Staff see the list only.

import { el, formatDay, todayIn } from "../kit.js";
import { busy, clearFieldErrors, field, fillView, showFieldErrors, table } from "./ui.js";

const $ = (id) => document.getElementById(id);

const INPUTS = { date: "b-from", from: "b-from", to: "b-to", reason: "b-reason", notify: "b-notify" };
const DAY = { weekday: "short", month: "short", day: "numeric", year: "numeric" };

const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

export function blocksView(ctx) {
  const root = $("view-blocks");
  let builtFor = null;

  const span = (from, to) => (!to || to === from ? formatDay(from, DAY) : `${formatDay(from, DAY)} – ${formatDay(to, DAY)}`);

  function refundText(user) {
    if (typeof user.refunded === "number") return `${ctx.money(user.refunded, user.currency)} refunded`;
    if (user.refunded === true) return "Refunded in full";
    if (user.refunded === false) return "Nothing to refund";
    return "Cancelled";
  }

  /** The clients a block changed: who, what happened, and a link to each booking. */
  function usersTable(users, caption, id) {
    const rows = users.map((u) => [
      [el("strong", {}, u.name), el("br"), el("a", { href: `mailto:${u.email}` }, u.email)],
      el("span", { class: "kit-badge", "data-kind": u.outcome === "cancelled" ? "warn" : null }, u.outcome === "moved" ? "Moved" : "Cancelled"),
      ctx.when(u.start),
      u.outcome === "moved" ? `Moved to ${ctx.when(u.new_start)}` : refundText(u),
      ctx.bookingLink(u.booking_id, [el("span", {}, "Open booking"), el("span", { class: "kit-sr" }, ` of ${u.name}`)]),
    ]);
    return table(caption, ["Client", "Outcome", "Was booked for", "Now", "Booking"], rows, "No booking was on these days.", {
      id,
      rowAttributes: (i) => ({ "data-booking": users[i].booking_id, "data-outcome": users[i].outcome }),
    });
  }

  function build() {
    const owner = ctx.role() === "owner";
    fillView(
      root,
      el("p", { class: "kit-muted" }, "Clients cannot book a blocked day. A booking already on it moves to the backup time its client gave, when that is still free; otherwise it is cancelled with a full refund."),
      owner ? blockForm() : el("p", { class: "kit-notice", id: "blocks-staff-note" }, "Staff can read the blocked dates; only owners can block or unblock a date."),
      el("section", { class: "dash-panel", id: "block-result", "aria-labelledby": "block-result-title", hidden: true, tabindex: "-1" }),
      el("section", { class: "dash-panel", "aria-labelledby": "blocks-list-title" },
        el("h2", { id: "blocks-list-title", tabindex: "-1" }, "Every block"),
        el("p", { class: "kit-muted dash-note dash-zone" }, `Days and times in ${ctx.zone().replace(/_/g, " ")}.`),
        el("div", { id: "blocks-table" }, el("p", { class: "kit-loading" }, "Loading…")),
      ),
    );
    builtFor = ctx.role();
  }

  function blockForm() {
    const today = todayIn(ctx.zone());
    const form = el(
      "form",
      { class: "dash-panel", id: "block-form", "aria-labelledby": "block-form-title", novalidate: true },
      el("h2", { id: "block-form-title" }, "Block a date or a range"),
      el(
        "div",
        { class: "dash-form-grid" },
        field("b-from", "Date (or first day)", el("input", { id: "b-from", name: "from", type: "date", min: today, required: true })),
        field("b-to", "Last day (optional)", el("input", { id: "b-to", name: "to", type: "date", min: today }), "Leave empty to block one day."),
        field("b-reason", "Reason (optional)", el("input", { id: "b-reason", name: "reason", autocomplete: "off", maxlength: "500" }), "Kept with the block and in each changed booking's history."),
      ),
      el("div", { class: "dash-checks" }, el("label", {}, el("input", { type: "checkbox", id: "b-notify", name: "notify", checked: true }), " Notify the clients whose bookings move or are cancelled")),
      el("p", { class: "kit-error", id: "block-form-error", role: "alert", hidden: true }),
      el("div", { class: "kit-actions" }, el("button", { type: "submit", class: "kit-button", id: "block-submit" }, "Block…")),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      confirmBlock(form);
    });
    return form;
  }

  function confirmBlock(form) {
    const summary = $("block-form-error");
    summary.hidden = true;
    clearFieldErrors(form);
    const from = $("b-from").value;
    const to = $("b-to").value;
    const reason = $("b-reason").value.trim();
    const notify = $("b-notify").checked;
    const local = [];
    if (!from) local.push({ field: "date", message: "Choose the day to block." });
    if (from && to && to < from) local.push({ field: "to", message: "The last day is before the first." });
    if (local.length) {
      summary.textContent = showFieldErrors(form, { fields: local }, INPUTS, () => "Check the highlighted fields.");
      summary.hidden = false;
      return;
    }
    const range = to && to !== from ? { from, to } : { date: from };
    ctx.openDialog({
      title: `Block ${span(from, to)}`,
      fields: [],
      effect: () =>
        `No one can book ${to && to !== from ? "these days" : "this day"} from now on. Each booking on ${to && to !== from ? "them" : "it"} moves to its client's backup time when that is free; ` +
        `otherwise it is cancelled in Cal.com and refunded in full. ${notify ? "Its client is to be told." : "Clients are not notified: you tell them."}`,
      label: () => "Block and move or cancel",
      path: "/admin/blocked-dates",
      body: () => ({ ...range, reason, notify }),
      onError: (error) => {
        if (!error.fields || !error.fields.some((f) => INPUTS[f.field])) return false;
        // After the dialog has closed and handed the focus back, so the first bad field keeps it.
        setTimeout(() => {
          summary.textContent = showFieldErrors(form, error, INPUTS, ctx.explain);
          summary.hidden = false;
        }, 0);
        return true;
      },
      onDone: async (answer, key) => {
        form.reset();
        $("b-notify").checked = true;
        showOutcome(answer, { body: { ...range, reason, notify }, key });
        await load();
        $("block-result").focus();
      },
    });
  }

  /** The block's answer; `request` (its body and Idempotency-Key) lets the owner finish a block left incomplete. */
  function showOutcome(answer, request) {
    const block = answer.block;
    const users = answer.users_to_notify || [];
    const failed = answer.failed || [];
    const counts =
      `Blocked ${plural(answer.blocked, "day", "days")} (${span(block.from, block.to)}): ` +
      `${plural(answer.moved, "booking", "bookings")} moved to the backup time, ${plural(answer.cancelled, "booking", "bookings")} cancelled with a full refund.`;
    const box = $("block-result");
    box.replaceChildren(el("div", {},
      el("h2", { id: "block-result-title" }, "What the block did"),
      el("p", { class: "kit-notice dash-result", "data-kind": "success", id: "block-counts" }, counts),
      el(
        "dl",
        { class: "dash-totals", id: "block-tally" },
        el("div", {}, el("dt", {}, "Days blocked"), el("dd", { id: "tally-blocked" }, String(answer.blocked))),
        el("div", {}, el("dt", {}, "Moved to backup"), el("dd", { id: "tally-moved" }, String(answer.moved))),
        el("div", {}, el("dt", {}, "Cancelled, refunded"), el("dd", { id: "tally-cancelled" }, String(answer.cancelled))),
        el("div", {}, el("dt", {}, "Clients to tell"), el("dd", { id: "tally-users" }, String(users.length))),
      ),
      failed.length || answer.complete === false ? unfinished(failed, request) : null,
      el("h3", {}, "Clients to notify"),
      block.notify
        ? [
            users.length ? el("p", { class: "kit-muted dash-note" }, "Their bookings changed: unless your notifications send them a message, tell them yourself.") : null,
            usersTable(users, "Clients whose bookings the block changed", "block-users"),
          ]
        : el("p", { class: "kit-muted", id: "block-users-empty" }, "You chose not to notify: the clients are not listed. Find their bookings in the Bookings view, on these days."),
    ));
    box.hidden = false;
    ctx.say(counts);
  }

  /** Bookings the block could not decide yet (Cal.com or Stripe did not answer): the same request again goes on. */
  function unfinished(failed, request) {
    const again = el("button", { type: "button", class: "kit-button", id: "block-again" }, "Try the undecided bookings again");
    again.addEventListener("click", async () => {
      again.disabled = true;
      ctx.say("Trying again…");
      try {
        const answer = await ctx.call("/admin/blocked-dates", { method: "POST", body: request.body, headers: { "Idempotency-Key": request.key } });
        showOutcome(answer, request);
        await load();
        $("block-result").focus();
      } catch (error) {
        again.disabled = false;
        ctx.say("");
        ctx.problem(ctx.explain(error));
      }
    });
    return el(
      "div",
      { class: "kit-notice", "data-kind": "error", id: "block-failed" },
      el("p", {}, `${plural(failed.length, "booking was", "bookings were")} not moved or cancelled yet: ${failed.map((f) => f.error).join("; ") || "the block is still running"}.`),
      el("ul", { class: "dash-plain" }, failed.map((f) => el("li", {}, `${ctx.when(f.start)}: `, ctx.bookingLink(f.booking_id)))),
      request ? again : null,
    );
  }

  function render(items) {
    const owner = ctx.role() === "owner";
    const headings = ["Dates", "Reason", "Moved", "Cancelled", "Clients", "Notify", "Blocked"];
    if (owner) headings.push("Action");
    const rows = items.map((item) => {
      const block = item.block;
      const users = item.users_to_notify || [];
      const cells = [
        span(block.from, block.to),
        block.reason || "–",
        String(item.moved),
        String(item.cancelled),
        users.length
          ? el("details", {}, el("summary", {}, plural(users.length, "client", "clients")), el("ul", { class: "dash-plain" },
              users.map((u) => el("li", {}, `${u.name}, ${u.outcome === "moved" ? "moved" : "cancelled"}: `, ctx.bookingLink(u.booking_id, [el("span", {}, "open"), el("span", { class: "kit-sr" }, ` the booking of ${u.name}`)])))))
          : block.notify ? "None" : "Not listed",
        block.notify ? "Yes" : "No",
        [ctx.when(block.created_at), el("br"), el("span", { class: "kit-muted" }, `by ${block.created_by || "–"}`)],
      ];
      if (owner) {
        cells.push(el("button", { type: "button", class: "kit-button kit-button-secondary dash-small", "data-unblock": block.block_id, onclick: () => confirmUnblock(item) },
          "Unblock…", el("span", { class: "kit-sr" }, ` ${span(block.from, block.to)}`)));
      }
      return cells;
    });
    $("blocks-table").replaceChildren(
      table("Blocked dates", headings, rows, "No date is blocked.", { id: "blocks", rowAttributes: (i) => ({ "data-block": items[i].block.block_id, "data-from": items[i].block.from }) }),
    );
  }

  function confirmUnblock(item) {
    const block = item.block;
    ctx.openDialog({
      title: `Unblock ${span(block.from, block.to)}`,
      fields: [],
      effect: () =>
        `Clients can book ${span(block.from, block.to)} again (when Cal.com has the times free). ` +
        (item.moved || item.cancelled
          ? `The ${plural(item.moved, "booking", "bookings")} moved and ${plural(item.cancelled, "booking", "bookings")} cancelled stay as they are.`
          : "No booking was changed by this block."),
      label: () => "Unblock",
      method: "DELETE",
      path: `/admin/blocked-dates/${encodeURIComponent(block.block_id)}`,
      onDone: async () => {
        ctx.say(`${span(block.from, block.to)} is open for booking again.`);
        await load();
        $("blocks-list-title").focus();
      },
    });
  }

  async function load() {
    const holder = $("blocks-table");
    try {
      const answer = await busy(holder, () => ctx.call("/admin/blocked-dates"));
      render(answer.blocked_dates);
    } catch (error) {
      holder.replaceChildren(el("p", { class: "kit-error" }, `The blocked dates could not be loaded: ${ctx.explain(error)}`));
    }
  }

  return {
    async show() {
      if (builtFor !== ctx.role()) build();
      await load();
    },
  };
}
