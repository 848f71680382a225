// The package page. Without a query: buy a package (which one, in which currency, the buyer's details, then Stripe's
// Payment Element as in the widget; POST /packages/purchase answers the package's id, secret and page). With
// ?id=&secret= (the package's page, the client's key to it): its credits used and left, the sessions booked with
// it, and "Book a session", the booking widget set to book with this package.

import "../../booking-widget.js";
import { ApiError, apiRequest, clientTimeZone, countOf, el, formatDateTime, formatMoney, loadStripe, pageParams, pricesOf, sleep, uuid } from "../../kit.js";
import { announce, facts, homeLink, notice, patiently, setUp, show } from "../page.js";

const params = pageParams();
const packageId = params.get("id");
const secret = params.get("secret");
const timeZone = clientTimeZone();
let api;
let config;

const CREDIT = { used: "credit used", returned: "credit returned", forfeited: "credit forfeited (late cancellation or missed)" };
const STATUS = { active: ["Active", "ok"], pending: ["Payment processing", "warn"], refunded: ["Refunded", "warn"], cancelled: ["Cancelled", "warn"], expired: ["Expired", "warn"] };

const serviceName = (id) => ((config.services || []).find((s) => s.id === id) || { name: id }).name;
const longDate = (iso) => formatDateTime(iso, timeZone, undefined, { dateStyle: "long" });

function contact() {
  const name = (config && config.business && config.business.name) || "the business";
  return `Please contact ${name} if you need help.`;
}

// ---- buying ------------------------------------------------------------------------------------------------------

const order = { packageId: null, currency: null, buyer: { name: "", email: "", phone: "" }, attempt: null };

function field(name, label, { type = "text", autocomplete, required = false, hint } = {}) {
  const id = `buyer-${name}`;
  const input = el("input", { id, name, type, autocomplete, required, "aria-required": required ? "true" : null, "aria-describedby": hint ? `${id}-hint` : null, value: order.buyer[name] });
  input.addEventListener("input", () => (order.buyer[name] = input.value.trim()));
  return el(
    "div",
    { class: "kit-field", "data-field": name },
    el("label", { for: id }, label),
    hint ? el("p", { class: "kit-hint", id: `${id}-hint` }, hint) : null,
    input,
    el("p", { class: "kit-field-error", id: `${id}-error`, hidden: true }),
  );
}

/** Each {field, message} beside its input ("buyer.email" -> email); focus on the first. Answers how many. */
function fieldErrors(form, problems) {
  let first = null;
  for (const box of form.querySelectorAll(".kit-field")) {
    const input = box.querySelector("input");
    const error = box.querySelector(".kit-field-error");
    const hint = box.querySelector(".kit-hint");
    const problem = problems.find((p) => p.field.replace(/^buyer\./, "") === box.dataset.field);
    error.hidden = !problem;
    error.textContent = problem ? problem.message.charAt(0).toUpperCase() + problem.message.slice(1) : "";
    if (problem) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
    const described = [problem ? error.id : null, hint ? hint.id : null].filter(Boolean).join(" ");
    if (described) input.setAttribute("aria-describedby", described);
    else input.removeAttribute("aria-describedby");
    if (problem && !first) first = input;
  }
  if (first) first.focus();
  return first ? 1 : 0;
}

function packageLine(item) {
  const services = item.services.map(serviceName).join(", ");
  return `${countOf(item.sessions, "session")} of ${services}${item.expires_days ? ` · use them within ${item.expires_days} days` : ""}`;
}

function buy() {
  const packages = config.packages || [];
  if (!packages.length) {
    show("Packages", el("p", {}, "No packages are on sale right now."), el("div", { class: "kit-actions" }, homeLink()));
    document.body.dataset.state = "none";
    return;
  }
  const chosen = () => packages.find((p) => p.id === order.packageId) || packages[0];
  order.packageId = chosen().id;
  const currencyBox = el("div");
  const drawCurrencies = () => {
    const prices = pricesOf(chosen());
    if (!prices.some((p) => p.currency === order.currency)) order.currency = prices[0].currency;
    if (prices.length < 2) {
      currencyBox.replaceChildren();
      return;
    }
    const options = prices.map((price) => {
      const input = el("input", { type: "radio", name: "currency", id: `currency-${price.currency}`, value: price.currency, checked: price.currency === order.currency });
      input.addEventListener("change", () => (order.currency = price.currency));
      return el("label", { class: "kit-option", for: input.id }, input, el("span", {}, el("strong", {}, price.currency.toUpperCase()), " ", formatMoney(price.amount, price.currency)));
    });
    currencyBox.replaceChildren(el("fieldset", { class: "kit-fieldset" }, el("legend", {}, "Pay in"), el("div", { class: "kit-options kit-options-row" }, options)));
  };
  const choices = packages.map((item) => {
    const input = el("input", { type: "radio", name: "package", id: `package-${item.id}`, value: item.id, checked: item.id === order.packageId });
    input.addEventListener("change", () => {
      order.packageId = item.id;
      drawCurrencies();
    });
    const prices = pricesOf(item).map((p) => formatMoney(p.amount, p.currency)).join(" or ");
    return el("label", { class: "kit-option", for: input.id }, input, el("span", {}, el("strong", {}, `${item.name} · ${prices}`), el("span", { class: "kit-muted" }, packageLine(item))));
  });
  drawCurrencies();
  const submit = el("button", { type: "submit", class: "kit-button kit-continue" }, "Continue to payment");
  const form = el(
    "form",
    { novalidate: true, class: "kit-form" },
    el("fieldset", { class: "kit-fieldset" }, el("legend", {}, "Package"), el("div", { class: "kit-options" }, choices)),
    currencyBox,
    el(
      "fieldset",
      { class: "kit-fieldset" },
      el("legend", {}, "Your details"),
      field("name", "Full name", { autocomplete: "name", required: true }),
      field("email", "Email", { type: "email", autocomplete: "email", required: true, hint: "We send your package's link here once we send emails; keep this page's link too." }),
      field("phone", "Phone (optional)", { type: "tel", autocomplete: "tel", hint: "With country code, e.g. +14155550100." }),
    ),
    el("div", { id: "buy-notice" }),
    el("div", { class: "kit-actions" }, submit),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (submit.disabled) return;
    submit.disabled = true;
    submit.textContent = "One moment…";
    try {
      await purchase(form, chosen());
    } finally {
      if (submit.isConnected) {
        submit.disabled = false;
        submit.textContent = "Continue to payment";
      }
    }
  });
  show("Buy a package", el("p", { class: "kit-lead-small" }, "Pay once, then book your sessions one at a time, each with a credit of your package."), form);
  document.body.dataset.state = "buy";
}

async function purchase(form, item) {
  const problems = [];
  if (!order.buyer.name) problems.push({ field: "name", message: "Please enter your name." });
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(order.buyer.email)) problems.push({ field: "email", message: "Please enter a valid email address." });
  if (fieldErrors(form, problems)) return;
  const buyer = { name: order.buyer.name, email: order.buyer.email, time_zone: timeZone };
  if (order.buyer.phone) buyer.phone = order.buyer.phone;
  const body = { package_id: item.id, buyer };
  if (order.currency !== item.price.currency) body.currency = order.currency;
  const text = JSON.stringify(body);
  // The same order keeps its Idempotency-Key: a retry finds the same package and PaymentIntent.
  if (!order.attempt || order.attempt.body !== text) order.attempt = { body: text, key: uuid() };
  const box = form.querySelector("#buy-notice");
  box.replaceChildren();
  let bought;
  try {
    bought = await apiRequest(api, "/packages/purchase", { body, headers: { "Idempotency-Key": order.attempt.key } });
  } catch (error) {
    if (error instanceof ApiError && error.status === 422 && fieldErrors(form, error.fields)) return;
    const transient = !(error instanceof ApiError) || error.status === 0 || error.status >= 500;
    box.replaceChildren(notice(error.message, { kind: "error", retry: transient ? () => purchase(form, item) : undefined, retryAfter: error.retryAfter }));
    return;
  }
  await pay(bought);
}

async function pay(bought) {
  const amount = formatMoney(bought.amount, bought.currency);
  const mountPoint = el("div", { class: "kit-pay-element", id: "payment-element" }, el("p", { class: "kit-loading" }, "Loading the payment form…"));
  const payError = el("p", { class: "kit-error", id: "pay-error", role: "alert" });
  const button = el("button", { type: "button", class: "kit-button kit-pay", "aria-describedby": "pay-error", disabled: true }, `Pay ${amount}`);
  show(`Pay for ${bought.name}`, facts([["Package", bought.name], ["Sessions", String(bought.sessions)], ["Amount", amount]]), el("h2", {}, "Card details"), mountPoint, payError, el("div", { class: "kit-actions" }, button));
  let stripe;
  let elements;
  try {
    const Stripe = await loadStripe(config.stripe.js_url);
    stripe = Stripe(bought.publishable_key || config.stripe.publishable_key);
    elements = stripe.elements({ clientSecret: bought.client_secret, appearance: { theme: "stripe", variables: { colorPrimary: "#4a32c9", borderRadius: "10px" } } });
    const element = elements.create("payment");
    mountPoint.replaceChildren();
    element.mount(mountPoint);
    element.on("change", () => (payError.textContent = ""));
  } catch (error) {
    mountPoint.replaceChildren(notice(error.message || "The payment form could not load.", { kind: "error", retry: () => pay(bought) }));
    return;
  }
  button.disabled = false;
  document.body.dataset.state = "pay";
  announce(`Payment form ready. ${amount} to pay.`);
  button.addEventListener("click", async () => {
    if (button.disabled) return;
    button.disabled = true;
    button.textContent = "Paying…";
    payError.textContent = "";
    try {
      const submitted = await elements.submit();
      if (submitted && submitted.error) {
        payError.textContent = submitted.error.message || "Please check your card details.";
        return;
      }
      // Stripe comes back to the package's page after a redirect (3-D Secure on another page).
      const result = await stripe.confirmPayment({ elements, confirmParams: { return_url: bought.package_url }, redirect: "if_required" });
      if (result.error) {
        payError.textContent = `${result.error.message || "Your payment did not go through."} You can try again or use another card.`;
        announce(payError.textContent);
        return;
      }
      location.assign(bought.package_url);
    } catch (error) {
      payError.textContent = error.message || "We could not reach the payment service. Your card was not charged; please try again.";
    } finally {
      if (button.isConnected) {
        button.disabled = false;
        button.textContent = `Pay ${amount}`;
      }
    }
  });
}

// ---- the package's page ------------------------------------------------------------------------------------------

const readPackage = () => apiRequest(api, `/packages/${encodeURIComponent(packageId)}`, { headers: { "X-Package-Secret": secret } });

async function view() {
  let item;
  try {
    item = await patiently(readPackage);
    // Just paid: reading the package activates it once Stripe has the payment (as verify does for a booking).
    for (let attempt = 0; item.status === "pending" && attempt < 8; attempt += 1) {
      await sleep(750);
      item = await readPackage();
    }
  } catch (error) {
    failed(error);
    return;
  }
  render(item);
}

function render(item) {
  const [statusText, statusKind] = STATUS[item.status] || [item.status, "warn"];
  const price = formatMoney(item.price.amount, item.price.currency);
  const bookable = item.status === "active" && item.credits_remaining > 0;
  const sessions = item.bookings.length
    ? el(
        "ul",
        { class: "kit-list kit-package-bookings" },
        item.bookings.map((b) =>
          el("li", { "data-booking": b.booking_id }, el("strong", {}, formatDateTime(b.start, timeZone, undefined, { dateStyle: "full", timeStyle: "short" })), el("br"), `${serviceName(b.service_id)} · ${String(b.status).toLowerCase().replace(/_/g, " ")} · ${CREDIT[b.credit] || b.credit}`),
        ),
      )
    : el("p", { class: "kit-muted" }, "No sessions booked yet.");
  const book = el("button", { type: "button", class: "kit-button kit-book-session", "aria-controls": "package-widget", "aria-expanded": "false" }, "Book a session");
  const widgetBox = el("div", { id: "package-widget", hidden: true });
  book.addEventListener("click", () => {
    const widget = el("booking-widget", { api, "package-id": item.package_id, "package-secret": secret });
    widgetBox.replaceChildren(widget);
    widgetBox.hidden = false;
    book.hidden = true;
    book.setAttribute("aria-expanded", "true");
    widget.scrollIntoView({ block: "start" });
  });
  show(
    item.name,
    el("p", {}, el("span", { class: "kit-badge kit-package-status", "data-kind": statusKind }, statusText)),
    item.status === "pending" ? el("p", {}, "Your bank is still processing the payment. Reload this page in a few minutes.") : null,
    facts([
      ["Sessions", String(item.sessions)],
      ["Used", String(item.credits_used)],
      ["Remaining", String(item.credits_remaining)],
      item.expires_at ? [item.status === "expired" ? "Expired on" : "Use them by", longDate(item.expires_at)] : null,
      ["Price", price],
      ["Package number", item.package_id],
    ]),
    el("p", { class: "kit-muted" }, "Keep this page's address: it is the key to your package. Anyone with it can book with your credits."),
    bookable ? el("div", { class: "kit-actions" }, book) : null,
    widgetBox,
    el("h2", {}, "Your sessions"),
    sessions,
  );
  document.body.dataset.state = item.status;
  announce(`${item.name}: ${countOf(item.credits_remaining, "session")} left.`);
}

function failed(error) {
  if (error instanceof ApiError && (error.status === 404 || error.status === 403 || error.status === 422 || error.status === 401)) {
    show(
      "This package link is not valid",
      el("p", {}, "The link may be incomplete: open it again with the whole address you got when you bought the package."),
      el("p", {}, contact()),
      el("div", { class: "kit-actions" }, homeLink()),
    );
    document.body.dataset.state = "bad-link";
    return;
  }
  const transient = !(error instanceof ApiError) || error.status === 0 || error.status >= 500;
  show("We could not open your package", notice(error.message || "Something went wrong.", { kind: "error", retry: transient ? () => view() : undefined, retryAfter: error.retryAfter }));
  document.body.dataset.state = "error";
}

async function main() {
  try {
    ({ api, config } = await setUp());
  } catch (error) {
    failed(error);
    return;
  }
  if (packageId || secret) {
    if (!packageId || !secret) failed(new ApiError(404, { error: { code: "package_not_found", message: "This package link is not valid." } }));
    else await view();
    return;
  }
  buy();
}

main();
