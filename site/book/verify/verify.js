// The verify page: /book/verify/?token=... (from create-token's verify_url), or Stripe's return after a redirect
// (?booking_id=...&payment_intent=...). Confirms the booking (POST /bookings/verify, safe to call again) and shows
// it; a lost slot offers another time on the same payment (the widget in rebook mode) or says it is refunded;
// a bad or expired link says what to do.

import "../../booking-widget.js";
import { ApiError, apiRequest, clientTimeZone, el, formatDateTime, formatMoney, formatRange, pageParams } from "../../kit.js";
import { announce, facts, homeLink, notice, patiently, setUp, show } from "../page.js";

const params = pageParams();
const serviceId = params.get("service");
const timeZone = clientTimeZone();
let api;
let config;

function serviceName(id = serviceId) {
  const service = (config.services || []).find((s) => s.id === id);
  return service ? service.name : null;
}

const city = (zone) => zone.split("/").pop().replace(/_/g, " ");

function contact() {
  const name = (config && config.business && config.business.name) || "the business";
  return `Please contact ${name} if you need help.`;
}

/** The booking token: the link's, or one issued now for Stripe's return to this page after a redirect. */
async function tokenFromLink() {
  const token = params.get("token");
  if (token) return token;
  const bookingId = params.get("booking_id");
  const intent = params.get("payment_intent");
  if (!bookingId || !intent) return null;
  if (params.get("redirect_status") === "failed") {
    show("Your payment did not go through", el("p", {}, "Your card was not charged. You can go back and try again with another card."), el("div", { class: "kit-actions" }, homeLink()));
    return undefined;
  }
  try {
    const issued = await patiently(() => apiRequest(api, "/bookings/create-token", { body: { booking_id: bookingId, payment_intent_id: intent } }));
    return new URL(issued.verify_url).searchParams.get("token");
  } catch (error) {
    if (error instanceof ApiError && error.code === "slot_unavailable" && error.details.token) return error.details.token;
    failed(error, () => main());
    return undefined;
  }
}

async function verify(token) {
  try {
    const confirmation = await patiently(() => apiRequest(api, "/bookings/verify", { body: { token } }), 4);
    confirmed(confirmation);
  } catch (error) {
    if (error instanceof ApiError && error.code === "slot_unavailable") slotLost(token, error);
    else failed(error, () => verify(token));
  }
}

function confirmed(booking, { rebooked = false } = {}) {
  const currency = booking.currency;
  const pending = booking.confirmation_pending || String(booking.status).toUpperCase() !== "CONFIRMED";
  const business = config.business || {};
  const sameZone = business.time_zone === timeZone;
  const heading = pending ? "Payment received: confirming your time" : rebooked ? "You're booked at your new time" : "You're booked";
  show(
    heading,
    el(
      "p",
      { class: "kit-status", "data-kind": pending ? "info" : "success" },
      pending
        ? "Your payment is safe and your time is held. The calendar is slow to answer; we confirm it shortly: reload this page in a minute."
        : "Your booking is confirmed and in the business's calendar. Keep this page or its booking reference.",
    ),
    facts([
      ["Service", serviceName(booking.service_id || serviceId)],
      [sameZone ? "When" : "When (your time)", formatRange(booking.start, booking.end, timeZone)],
      sameZone ? null : [`At the business (${city(business.time_zone)})`, formatRange(booking.start, booking.end, business.time_zone)],
      ["Paid", paidText(booking)],
      ["Due at your appointment", booking.balance_due ? formatMoney(booking.balance_due, currency) : booking.amount_paid ? "Nothing: paid in full" : "Nothing"],
      ["Booking reference", booking.booking_id],
    ].filter(Boolean)),
    manageSection(booking),
    el("div", { class: "kit-actions" }, homeLink("Book another appointment")),
  );
  document.body.dataset.state = pending ? "pending" : "confirmed";
  announce(heading);
}

function paidText(booking) {
  if (!booking.amount_paid && !booking.balance_due) return booking.package_id ? "Nothing: one credit of your package" : "Nothing: no payment needed";
  return `${formatMoney(booking.amount_paid, booking.currency)} ${booking.payment_type === "full" ? "(paid in full)" : "deposit"}`;
}

/** The manage link (long-lived, unlike this page's): the client's own way back to reschedule or cancel. */
function manageSection(booking) {
  if (!booking.manage_url) return null;
  return el(
    "section",
    { class: "kit-manage", "aria-labelledby": "manage-title" },
    el("h2", { id: "manage-title" }, "Change or cancel"),
    el("p", {}, "Keep this link: with it you can see your booking, move it to another time or cancel it."),
    el("a", { class: "kit-button kit-button-secondary kit-manage-link", href: booking.manage_url }, "Manage your booking"),
  );
}

function slotLost(token, error) {
  const until = error.details.rebook_until;
  if (!until) {
    show(
      "This time is no longer available",
      el("p", {}, "The calendar no longer has the time you paid for, so your payment is refunded in full. Refunds reach your card within 5–10 business days."),
      el("p", {}, "You are welcome to book another time."),
      el("div", { class: "kit-actions" }, homeLink("Book another time")),
    );
    document.body.dataset.state = "refunded";
    return;
  }
  const deadline = formatDateTime(until, timeZone, undefined, { weekday: "long", month: "long", day: "numeric", hour: "numeric", minute: "2-digit" });
  const widget = el("booking-widget", { api, "rebook-token": token, service: error.details.service_id || serviceId || null });
  widget.addEventListener("bw-rebooked", (event) => (event.detail ? confirmed(event.detail, { rebooked: true }) : verify(token)));
  show(
    "Your time was taken: pick another",
    el("p", {}, "Someone else booked the time you chose while you were paying. Your payment is safe and kept for your new time."),
    el("div", { class: "kit-notice", "data-kind": "info" }, el("p", {}, `Choose another time before ${deadline}. If you don't, we refund your payment in full automatically.`)),
    widget,
  );
  document.body.dataset.state = "rebook";
}

function failed(error, retry) {
  const api404 = error instanceof ApiError && (error.status === 404 || error.status === 422 || error.code === "token_not_found");
  if (api404) {
    show(
      "This booking link is not valid",
      el("p", {}, "The link may be incomplete: open it again with the whole address, or contact the business with your booking reference."),
      el("p", {}, `If you paid, your payment is safe. ${contact()}`),
      el("div", { class: "kit-actions" }, homeLink()),
    );
    document.body.dataset.state = "bad-link";
    return;
  }
  if (error instanceof ApiError && error.status === 410) {
    show(
      "This booking link has expired",
      // The link only shows the booking; a paid booking is confirmed without it (the payment's webhook does it).
      el("p", {}, "This page's link works for a short while after paying. Your payment is safe: the booking is confirmed without this page, or refunded in full if the time could not be kept."),
      el("p", {}, contact()),
      el("div", { class: "kit-actions" }, homeLink()),
    );
    document.body.dataset.state = "expired";
    return;
  }
  if (error instanceof ApiError && error.status === 409) {
    show("We could not confirm this booking", el("p", {}, error.message), el("p", {}, contact()), el("div", { class: "kit-actions" }, homeLink()));
    document.body.dataset.state = "closed";
    return;
  }
  const transient = !(error instanceof ApiError) || error.status === 0 || error.status >= 500;
  show(
    "We could not confirm your booking yet",
    el("p", {}, "Your payment is safe. Please try again in a moment."),
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
  const token = await tokenFromLink();
  if (token === undefined) return;
  if (!token) {
    failed(new ApiError(404, { error: { code: "token_not_found", message: "This booking link is not valid." } }), null);
    return;
  }
  if (!params.get("token")) {
    // Stripe's return: keep a link that can be reloaded or bookmarked.
    const link = new URL(location.href);
    link.search = new URLSearchParams({ token, ...(serviceId ? { service: serviceId } : {}) }).toString();
    history.replaceState(null, "", link.href);
  }
  await verify(token);
}

main();
