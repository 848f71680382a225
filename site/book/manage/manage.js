// The manage page: /book/manage/?token=... (the confirmation's manage_url). The client sees their booking and, before
// deciding, what cancelling it would refund; cancels after a confirm dialog (POST /bookings/manage/cancel), or
// moves it to another free time of the same service (the booking widget in reschedule mode, which posts
// /bookings/manage/reschedule). Every answer is the same view of the booking, so each step redraws the whole page.

import "../../booking-widget.js";
import { ApiError, apiRequest, clientTimeZone, el, formatMoney, formatRange, pageParams } from "../../kit.js";
import { announce, facts, homeLink, notice, patiently, setUp, show } from "../page.js";

const token = pageParams().get("token");
const timeZone = clientTimeZone();
let api;
let config;

const STATUS = {
  confirmed: ["Confirmed", "ok"],
  paid: ["Confirming", "warn"],
  cancelled: ["Cancelled", "warn"],
  refunded: ["Cancelled and refunded", "warn"],
  completed: ["Completed", "ok"],
  no_show: ["Missed", "warn"],
};

const city = (zone) => zone.split("/").pop().replace(/_/g, " ");

function contact() {
  const name = (config && config.business && config.business.name) || "the business";
  return `Please contact ${name} if you need help.`;
}

async function load() {
  try {
    render(await patiently(() => apiRequest(api, "/bookings/manage", { body: { token } })));
  } catch (error) {
    failed(error, () => load());
  }
}

/** The booking, what cancelling does, what rescheduling allows. `done`: what just happened, said first. */
function render(view, done = null) {
  const { booking, cancellation, reschedule } = view;
  const status = String(booking.status).toLowerCase();
  const [statusText, statusKind] = STATUS[status] || [status.replace(/_/g, " "), "warn"];
  const money = (amount) => formatMoney(amount, booking.currency);
  const business = config.business || {};
  const sameZone = business.time_zone === timeZone;
  const cancelled = status === "cancelled" || status === "refunded";
  // A booking that is over (cancelled, held, missed) has nothing left to cancel, move or pay.
  const live = !cancelled && !["completed", "no_show"].includes(status);
  const heading = done ? done.heading : cancelled ? "Your booking is cancelled" : "Your booking";
  show(
    heading,
    done ? el("p", { class: "kit-status", "data-kind": "success" }, done.message) : null,
    el("p", {}, el("span", { class: "kit-badge kit-booking-status", "data-kind": statusKind }, statusText)),
    facts([
      ["Service", booking.service_name],
      [sameZone ? "When" : "When (your time)", formatRange(booking.start, booking.end, timeZone)],
      sameZone ? null : [`At the business (${city(business.time_zone)})`, formatRange(booking.start, booking.end, business.time_zone)],
      ["Name", booking.attendee_name],
      ["Paid", booking.package_id ? "One credit of your package" : booking.amount_paid ? `${money(booking.amount_paid)} ${booking.payment_type === "full" ? "(paid in full)" : "deposit"}` : "Nothing"],
      booking.amount_refunded ? ["Refunded", money(booking.amount_refunded)] : null,
      booking.balance_due && live ? ["Due at your appointment", money(booking.balance_due)] : null,
      booking.promo_code ? ["Promo code", booking.promo_code] : null,
      booking.reschedule_count ? ["Rescheduled", booking.reschedule_count === 1 ? "Once" : `${booking.reschedule_count} times`] : null,
      ["Booking reference", booking.booking_id],
    ]),
    live ? rescheduleSection(booking, reschedule) : null,
    live ? cancelSection(booking, cancellation) : null,
    el("div", { class: "kit-actions" }, homeLink("Book another appointment")),
  );
  document.body.dataset.state = done ? done.state : cancelled ? "cancelled" : "ready";
  announce(done ? `${heading}. ${done.message}` : heading);
}

/** What a cancellation would do, in words, before the client decides. */
function cancellationTerms(booking, cancellation) {
  const money = (amount) => formatMoney(amount, booking.currency);
  const parts = [];
  if (booking.package_id) {
    parts.push(cancellation.credit_returned ? "Your package credit comes back to your package." : "Your package credit is used up: it is too late to get it back.");
  } else if (cancellation.refund) {
    parts.push(`We refund ${money(cancellation.refund)} to your card.`);
  } else if (booking.amount_paid) {
    parts.push("Nothing is refunded.");
  }
  if (cancellation.fee) parts.push(`A late cancellation fee of ${money(cancellation.fee)} is kept.`);
  return parts.join(" ") || "Nothing was paid, so nothing is refunded.";
}

function cancelSection(booking, cancellation) {
  const section = el("section", { class: "kit-section-box", "aria-labelledby": "cancel-title" }, el("h2", { id: "cancel-title" }, "Cancel"));
  if (!cancellation.allowed) {
    section.append(el("p", { class: "kit-muted kit-cancel-reason" }, cancellation.reason || "This booking can no longer be cancelled here."));
    return section;
  }
  const terms = cancellationTerms(booking, cancellation);
  const open = el("button", { type: "button", class: "kit-button kit-button-secondary kit-cancel" }, "Cancel this booking…");
  open.addEventListener("click", () => confirmCancel(booking, terms, open));
  section.append(el("p", { class: "kit-cancel-terms" }, el("strong", {}, "If you cancel now: "), terms), el("div", { class: "kit-actions" }, open));
  return section;
}

/** A modal dialog: the client confirms, or keeps the booking (Escape and "Keep" close it, focus returns). */
function confirmCancel(booking, terms, opener) {
  const error = el("p", { class: "kit-error", role: "alert", id: "cancel-error" });
  const yes = el("button", { type: "button", class: "kit-button kit-confirm-cancel", "aria-describedby": "cancel-error" }, "Yes, cancel my booking");
  const keep = el("button", { type: "button", class: "kit-button kit-button-secondary kit-keep" }, "Keep my booking");
  const dialog = el(
    "dialog",
    { class: "kit-dialog", "aria-labelledby": "cancel-dialog-title", "aria-describedby": "cancel-dialog-terms" },
    el("h2", { id: "cancel-dialog-title" }, "Cancel this booking?"),
    el("p", { id: "cancel-dialog-terms" }, `${booking.service_name}, ${formatRange(booking.start, booking.end, timeZone)}. ${terms}`),
    error,
    el("div", { class: "kit-actions" }, yes, keep),
  );
  dialog.addEventListener("close", () => {
    dialog.remove();
    if (opener.isConnected) opener.focus();
  });
  keep.addEventListener("click", () => dialog.close());
  yes.addEventListener("click", async () => {
    if (yes.disabled) return;
    yes.disabled = true;
    keep.disabled = true;
    yes.textContent = "Cancelling…";
    try {
      const view = await apiRequest(api, "/bookings/manage/cancel", { body: { token } });
      dialog.close();
      render(view, { heading: "Your booking is cancelled", message: cancelledMessage(view), state: "cancelled" });
    } catch (failure) {
      error.textContent = failure.message || "We could not cancel your booking. Please try again.";
      yes.disabled = false;
      keep.disabled = false;
      yes.textContent = "Yes, cancel my booking";
    }
  });
  document.body.append(dialog);
  dialog.showModal();
  keep.focus(); // the safe choice first
}

function cancelledMessage({ booking }) {
  if (booking.package_id) return "Your booking is cancelled.";
  if (booking.amount_refunded) {
    return `We refunded ${formatMoney(booking.amount_refunded, booking.currency)}. It reaches your card within 5–10 business days.`;
  }
  return "Your booking is cancelled. Nothing was refunded.";
}

function rescheduleSection(booking, reschedule) {
  const section = el("section", { class: "kit-section-box", "aria-labelledby": "reschedule-title" }, el("h2", { id: "reschedule-title" }, "Change the time"));
  if (!reschedule.allowed) {
    section.append(el("p", { class: "kit-muted kit-reschedule-reason" }, reschedule.reason || "This booking can no longer be moved here."));
    return section;
  }
  const fee = reschedule.fee ? `Moving it now costs a late reschedule fee of ${formatMoney(reschedule.fee, booking.currency)}, charged to the card you paid with.` : "Moving it costs nothing.";
  const left = reschedule.remaining === null || reschedule.remaining === undefined ? "" : ` You can move it ${reschedule.remaining === 1 ? "once more" : `${reschedule.remaining} more times`}.`;
  const open = el("button", { type: "button", class: "kit-button kit-button-secondary kit-reschedule", "aria-expanded": "false", "aria-controls": "reschedule-picker" }, "Pick a new time");
  const picker = el("div", { id: "reschedule-picker", hidden: true });
  open.addEventListener("click", () => {
    if (!picker.hidden) return;
    const widget = el("booking-widget", { api, "manage-token": token, service: booking.service_id, "move-note": fee });
    widget.addEventListener("bw-rescheduled", (event) =>
      render(event.detail, { heading: "Your booking is moved", message: "Your booking is at its new time, in the business's calendar too.", state: "rescheduled" }),
    );
    picker.replaceChildren(widget);
    picker.hidden = false;
    open.setAttribute("aria-expanded", "true");
    open.hidden = true;
    widget.scrollIntoView({ block: "start" });
  });
  section.append(el("p", { class: "kit-reschedule-terms" }, `${fee}${left}`), el("div", { class: "kit-actions" }, open), picker);
  return section;
}

function failed(error, retry) {
  if (error instanceof ApiError && (error.status === 404 || error.status === 422 || error.code === "token_not_found")) {
    show(
      "This booking link is not valid",
      el("p", {}, "The link may be incomplete: open it again with the whole address from your confirmation."),
      el("p", {}, contact()),
      el("div", { class: "kit-actions" }, homeLink()),
    );
    document.body.dataset.state = "bad-link";
    return;
  }
  if (error instanceof ApiError && (error.status === 410 || error.status === 403)) {
    show("This booking link no longer works", el("p", {}, error.message), el("p", {}, contact()), el("div", { class: "kit-actions" }, homeLink()));
    document.body.dataset.state = "expired";
    return;
  }
  const transient = !(error instanceof ApiError) || error.status === 0 || error.status >= 500;
  show(
    "We could not open your booking",
    notice(error.message || "Something went wrong.", { kind: "error", retry: transient ? retry : undefined, retryAfter: error.retryAfter }),
  );
  document.body.dataset.state = "error";
}

async function main() {
  try {
    ({ api, config } = await setUp());
  } catch (error) {
    failed(error, () => main());
    return;
  }
  if (!token) {
    failed(new ApiError(404, { error: { code: "token_not_found", message: "This booking link is not valid." } }));
    return;
  }
  await load();
}

main();
