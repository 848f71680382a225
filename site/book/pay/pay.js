// The pay page: /book/pay/?token=... (a pay link: a balance or a fee the saved card could not pay). POST /bookings/pay
// gives the payment and, while it is open, its client secret. A payment waiting for the client's authentication is
// finished with stripe.handleNextAction; otherwise the client pays with the Payment Element (3-D Secure inside
// confirmPayment). Stripe's payment_intent.succeeded webhook records it; the page asks again until it shows paid.

import { ApiError, apiRequest, el, formatMoney, loadStripe, pageParams, sleep } from "../../kit.js";
import { announce, facts, homeLink, notice, patiently, setUp, show } from "../page.js";

const PURPOSES = {
  // A first payment reaches the pay page through a waitlist offer: a seat held for the client until it is paid.
  deposit: "The deposit that secures your place",
  full: "The payment that secures your place",
  balance: "The balance of your booking",
  late_cancel_fee: "The late cancellation fee",
  no_show_fee: "The missed appointment fee",
};

const token = pageParams().get("token");
let api;
let config;
let stripe;

const purposeText = (page) => PURPOSES[page.purpose] || "A payment for your booking";

async function open() {
  let page;
  try {
    page = await patiently(() => apiRequest(api, "/bookings/pay", { body: { token } }));
  } catch (error) {
    failed(error);
    return;
  }
  if (page.status === "paid") paid(page);
  else if (page.status === "processing") processing(page);
  else await payable(page);
}

function summary(page) {
  return facts([
    ["For", purposeText(page)],
    ["Amount", formatMoney(page.amount, page.currency)],
    ["Booking reference", page.booking_id],
  ]);
}

function paid(page) {
  show("Thank you, you're all paid", el("p", { class: "kit-status", "data-kind": "success" }, "We have received your payment. Nothing more is due for it."), summary(page), el("div", { class: "kit-actions" }, homeLink("Go to the home page")));
  document.body.dataset.state = "paid";
  announce("Payment received.");
}

function processing(page) {
  const again = el("button", { type: "button", class: "kit-button kit-button-secondary" }, "Check again");
  again.addEventListener("click", () => open());
  show("Your payment is processing", el("p", {}, "Your bank is still processing this payment. There is nothing more to do; check again in a few minutes."), summary(page), el("div", { class: "kit-actions" }, again));
  document.body.dataset.state = "processing";
}

async function stripeFor() {
  if (!stripe) {
    const Stripe = await loadStripe(config.stripe.js_url);
    stripe = Stripe(config.stripe.publishable_key);
  }
  return stripe;
}

async function payable(page) {
  const amount = formatMoney(page.amount, page.currency);
  const payError = el("p", { class: "kit-error", id: "pay-error", role: "alert" });
  const intro = el("p", {}, `${purposeText(page)} is ready to pay. ${page.last_error ? "Your bank needs you to confirm it." : ""}`.trim());
  let client;
  try {
    client = await stripeFor();
  } catch (error) {
    show(`Pay ${amount}`, intro, summary(page), notice(error.message, { kind: "error", retry: () => payable(page) }));
    return;
  }
  const retrieved = await client.retrievePaymentIntent(page.client_secret);
  const intent = retrieved && retrieved.paymentIntent;
  if (intent && intent.status === "requires_action") {
    // The saved card only needs the client's authentication.
    const confirm = el("button", { type: "button", class: "kit-button kit-pay", "aria-describedby": "pay-error" }, `Confirm and pay ${amount}`);
    confirm.addEventListener("click", () =>
      busy(confirm, async () => {
        payError.textContent = "";
        const result = await client.handleNextAction({ clientSecret: page.client_secret });
        await settled(page, result, payError);
      }),
    );
    show(`Pay ${amount}`, intro, summary(page), el("p", {}, "Your bank asks you to confirm this payment with your saved card."), payError, el("div", { class: "kit-actions" }, confirm));
    document.body.dataset.state = "ready";
    return;
  }
  const mountPoint = el("div", { class: "kit-pay-element", id: "payment-element" });
  const pay = el("button", { type: "button", class: "kit-button kit-pay", "aria-describedby": "pay-error" }, `Pay ${amount}`);
  show(`Pay ${amount}`, intro, summary(page), el("h2", {}, "Card details"), mountPoint, payError, el("div", { class: "kit-actions" }, pay));
  const elements = client.elements({ clientSecret: page.client_secret, appearance: { theme: "stripe", variables: { colorPrimary: "#4a32c9", borderRadius: "10px" } } });
  const element = elements.create("payment");
  element.mount(mountPoint);
  element.on("change", () => (payError.textContent = ""));
  pay.addEventListener("click", () =>
    busy(pay, async () => {
      payError.textContent = "";
      const submitted = await elements.submit();
      if (submitted && submitted.error) {
        payError.textContent = submitted.error.message || "Please check your card details.";
        return;
      }
      const result = await client.confirmPayment({ elements, confirmParams: { return_url: location.href }, redirect: "if_required" });
      await settled(page, result, payError);
    }),
  );
  document.body.dataset.state = "ready";
}

async function busy(button, fn) {
  if (button.disabled) return;
  const label = button.textContent;
  button.disabled = true;
  button.textContent = "Paying…";
  try {
    await fn();
  } catch (error) {
    document.getElementById("pay-error").textContent = error.message || "Something went wrong. Please try again.";
  } finally {
    if (button.isConnected) {
      button.disabled = false;
      button.textContent = label;
    }
  }
}

/** After Stripe answered: an error stays on this screen; a success waits for the webhook to record it. */
async function settled(page, result, payError) {
  if (result.error) {
    payError.textContent = `${result.error.message || "Your payment did not go through."} You can try again or use another card.`;
    announce(payError.textContent);
    return;
  }
  const status = result.paymentIntent && result.paymentIntent.status;
  if (status !== "succeeded" && status !== "processing") {
    payError.textContent = "The payment was not completed. Please try again.";
    return;
  }
  for (let attempt = 0; attempt < 8; attempt += 1) {
    try {
      const now = await apiRequest(api, "/bookings/pay", { body: { token } });
      if (now.status === "paid") return paid(now);
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 503) break;
    }
    await sleep(750);
  }
  // Stripe has it; our records catch up from its webhook.
  if (status === "succeeded") paid(page);
  else processing(page);
}

function failed(error) {
  if (error instanceof ApiError && (error.status === 404 || error.status === 422)) {
    show("This payment link is not valid", el("p", {}, "The link may be incomplete: open it again from the message you received, or copy the whole address."), el("p", {}, contact()), el("div", { class: "kit-actions" }, homeLink("Go to the home page")));
    document.body.dataset.state = "bad-link";
    return;
  }
  if (error instanceof ApiError && error.code === "payment_closed") {
    show("This payment is closed", el("p", {}, error.message), el("p", {}, `You have nothing to pay through this link. ${contact()}`), el("div", { class: "kit-actions" }, homeLink("Go to the home page")));
    document.body.dataset.state = "closed";
    return;
  }
  if (error instanceof ApiError && error.status === 410) {
    show("This payment link has expired", el("p", {}, error.message), el("p", {}, `Ask for a new link. ${contact()}`), el("div", { class: "kit-actions" }, homeLink("Go to the home page")));
    document.body.dataset.state = "expired";
    return;
  }
  const transient = !(error instanceof ApiError) || error.status === 0 || error.status >= 500;
  show("We could not open your payment", notice(error.message || "Something went wrong.", { kind: "error", retry: transient ? () => main() : undefined, retryAfter: error.retryAfter }));
  document.body.dataset.state = "error";
}

function contact() {
  const name = (config && config.business && config.business.name) || "the business";
  return `Contact ${name} if you have a question.`;
}

async function main() {
  try {
    ({ api, config } = await setUp());
  } catch (error) {
    failed(error);
    return;
  }
  if (!token) {
    failed(new ApiError(404, { error: { code: "token_not_found", message: "This payment link is not valid." } }));
    return;
  }
  await open();
}

main();
