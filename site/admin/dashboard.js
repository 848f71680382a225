// The owner's dashboard: sign-in (Cognito's hosted UI with PKCE, or the local runner's dev token), bookings with
// filters, paging and totals, a booking's whole story, the owner's money actions behind a confirm dialog, and the
// owner's alerts; the promo codes, blocked dates and packages views live in their own modules and get what they need
// from here through one context. Plain ES module, no framework, no build step; the API is the authority on every
// rule (the buttons only hide what a role cannot do and say what will happen).

import { ApiError, apiBase, apiRequest, el, fetchJson, formatDateTime, formatMoney, getConfig, uuid } from "../kit.js";
import { blocksView } from "./blocks.js";
import { packagesView } from "./packages.js";
import { promosView } from "./promos.js";
import { reportsView } from "./reports.js";
import { facts, field, fill, fromMinor, radios, table, titleCase, toMinor } from "./ui.js";

const TOKEN_KEY = "booking-dashboard.token";
const SIGN_IN_KEY = "booking-dashboard.sign-in"; // {state, verifier} while Cognito's page has the owner
const PAGE_SIZE = 25;
const ALERTS_PAGE = 5;
const SLOT_KEEPING = ["PAID", "CONFIRMED", "COMPLETED"];

const $ = (id) => document.getElementById(id);

const state = {
  api: "",
  config: null,
  signIn: { mode: "none" },
  token: null,
  claims: null,
  role: null, // "owner" | "staff" | null
  filters: {},
  cursors: [null], // the cursor of each page shown so far; the last one is the current page's
  nextCursor: null,
  alertsCursor: null,
  selected: null, // the booking shown in the detail panel
};

// ---- small helpers ---------------------------------------------------------------------------------------------

let sayTimer = null;

function say(message) {
  // Cleared first so the same message twice is announced twice; a newer message replaces one still pending.
  const status = $("status");
  clearTimeout(sayTimer);
  status.textContent = "";
  if (message) sayTimer = setTimeout(() => (status.textContent = message), 30);
}

function problem(message) {
  const box = $("problem");
  box.replaceChildren(...(message ? [el("p", {}, message)] : []));
  box.hidden = !message;
}

const money = (amount, currency) => formatMoney(amount || 0, currency || "usd");
const zone = () => (state.config && state.config.business && state.config.business.time_zone) || "UTC";
const when = (iso, style = { dateStyle: "medium", timeStyle: "short" }) => (iso ? formatDateTime(iso, zone(), undefined, style) : "–");
const serviceName = (id) => ((state.config && state.config.services) || []).find((s) => s.id === id)?.name || id;

function decodeClaims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part + "=".repeat((4 - (part.length % 4)) % 4)));
  } catch {
    return null;
  }
}

/** The Stripe Dashboard page of an object id, or null for ids it has no page for. */
function stripeUrl(id) {
  if (!id) return null;
  const mode = String(state.config?.stripe?.publishable_key || "").startsWith("pk_live_") ? "" : "/test";
  const base = `https://dashboard.stripe.com${mode}`;
  if (/^(pi|ch|py)_/.test(id)) return `${base}/payments/${id}`;
  if (/^(re|pyr)_/.test(id)) return `${base}/refunds/${id}`;
  if (/^(dp|du)_/.test(id)) return `${base}/disputes/${id}`;
  if (/^tr_/.test(id)) return `${base}/connect/transfers/${id}`;
  return null;
}

function stripeId(id) {
  if (!id) return "–";
  const url = stripeUrl(id);
  if (!url) return el("code", {}, id);
  return el("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, el("code", {}, id), el("span", { class: "kit-sr" }, " (opens the Stripe Dashboard)"));
}

// ---- the API -----------------------------------------------------------------------------------------------------

async function call(path, options = {}) {
  try {
    return await apiRequest(state.api, path, { ...options, token: state.token });
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      signOut({ quiet: true });
      showSignIn("Your sign-in has expired or was refused. Sign in again.");
    }
    throw error;
  }
}

function explain(error) {
  if (!(error instanceof ApiError)) return String(error && error.message ? error.message : error);
  if (error.status === 403) {
    return state.role === "staff"
      ? `Staff can read bookings; only owners can move money or close flags. (${error.message})`
      : `You are signed in without the owner or staff group. (${error.message})`;
  }
  return error.message;
}

// ---- sign-in -------------------------------------------------------------------------------------------------------

function base64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString(bytes = 32) {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

async function startCognitoSignIn() {
  const sign = state.signIn;
  const verifier = randomString(48);
  const challenge = base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  const nonce = randomString(16);
  sessionStorage.setItem(SIGN_IN_KEY, JSON.stringify({ state: nonce, verifier }));
  const url = new URL(sign.authorize_url);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: sign.client_id,
    redirect_uri: sign.redirect_uri,
    scope: (sign.scopes || []).join(" "),
    state: nonce,
    code_challenge: challenge,
    code_challenge_method: "S256",
  }).toString();
  location.assign(url.href);
}

/** Back from Cognito with ?code&state: check the state, trade the code (and the PKCE verifier) for tokens. */
async function finishCognitoSignIn(params) {
  const pending = JSON.parse(sessionStorage.getItem(SIGN_IN_KEY) || "null");
  sessionStorage.removeItem(SIGN_IN_KEY);
  history.replaceState(null, "", location.pathname);
  if (params.get("error")) throw new Error(`Sign-in failed: ${params.get("error_description") || params.get("error")}.`);
  if (!pending || pending.state !== params.get("state")) throw new Error("This sign-in answer was not for this page. Sign in again.");
  const response = await fetch(state.signIn.token_url, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      client_id: state.signIn.client_id,
      code: params.get("code"),
      redirect_uri: state.signIn.redirect_uri,
      code_verifier: pending.verifier,
    }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok || !body.access_token) throw new Error(`Sign-in failed: ${body.error || response.status}.`);
  useToken(body.access_token);
}

async function devToken(role) {
  const answer = await fetchJson(new URL(`/_local/dev-token?role=${role}`, location.origin).href);
  useToken(answer.access_token);
  await enterApp();
}

function useToken(token) {
  const claims = decodeClaims(token);
  if (!claims) throw new Error("That is not an access token.");
  if (claims.exp && claims.exp * 1000 < Date.now()) throw new Error("That token has expired. Get a new one.");
  sessionStorage.setItem(TOKEN_KEY, token);
  state.token = token;
  state.claims = claims;
  const groups = claims["cognito:groups"] || [];
  state.role = groups.includes("owner") ? "owner" : groups.includes("staff") ? "staff" : null;
}

function signOut({ quiet = false } = {}) {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = state.claims = state.role = null;
  state.selected = null;
  $("who").hidden = true;
  $("app").hidden = true;
  if (!quiet && state.signIn.mode === "cognito") {
    const url = new URL(state.signIn.logout_url);
    url.searchParams.set("client_id", state.signIn.client_id);
    url.searchParams.set("logout_uri", new URL("../", location.href).href);
    location.assign(url.href);
    return;
  }
  if (!quiet) {
    showSignIn();
    say("Signed out.");
  }
}

function showSignIn(message) {
  $("app").hidden = true;
  $("who").hidden = true;
  $("sign-in").hidden = false;
  const mode = state.signIn.mode;
  $("sign-in-cognito").hidden = mode !== "cognito";
  $("sign-in-local").hidden = mode !== "local";
  $("sign-in-none").hidden = mode === "cognito" || mode === "local";
  problem(message || "");
  if (message) say("");
  document.title = "Sign in – Owner's dashboard";
}

async function enterApp() {
  problem("");
  $("sign-in").hidden = true;
  $("app").hidden = false;
  $("who").hidden = false;
  $("who-name").textContent = state.claims.username || state.claims.email || state.claims.sub || "";
  $("who-role").textContent = state.role ? titleCase(state.role) : "No role";
  $("who-role").dataset.kind = state.role === "owner" ? "" : "warn";
  if (!state.role) problem("You are signed in, but in neither the owner nor the staff group: the API will refuse you.");
  else if (state.role === "staff") say("Signed in as staff: you can read everything; only owners can move money.");
  else say("Signed in.");
  $("main").focus();
  await Promise.all([loadBookings(), loadAlerts(true), route({ entering: true })]);
}

// ---- views: the address's fragment says which (#bookings, #bookings/<id>, #promo-codes, #blocked-dates,
// #packages, #packages/<id>), so each view is a link, the Back button works and a view can be bookmarked ----------

const VIEWS = {
  bookings: { hash: "bookings", title: "Bookings" },
  promos: { hash: "promo-codes", title: "Promo codes" },
  blocks: { hash: "blocked-dates", title: "Blocked dates" },
  packages: { hash: "packages", title: "Packages" },
  reports: { hash: "reports", title: "Reports" },
};

function parseHash() {
  const [head, ...rest] = decodeURIComponent(location.hash.replace(/^#/, "")).split("/");
  const name = Object.keys(VIEWS).find((key) => VIEWS[key].hash === head) || "bookings";
  return { name, id: rest.join("/") || null };
}

/** A link to a booking's detail (from any view): the bookings view opens it, also when the address is already it. */
function bookingLink(bookingId, text) {
  const hash = `#bookings/${encodeURIComponent(bookingId)}`;
  return el("a", { href: hash, "data-booking-link": bookingId, onclick: () => location.hash === hash && setTimeout(() => route(), 0) }, text || bookingId);
}

let views = null; // the other views' modules, built once signed in

async function route({ entering = false } = {}) {
  if (!state.token || $("app").hidden) return;
  const { name, id } = parseHash();
  for (const [key, view] of Object.entries(VIEWS)) {
    $(`view-${key}`).hidden = key !== name;
    const link = document.querySelector(`.dash-nav a[data-view="${key}"]`);
    if (key === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
    if (key === name) document.title = `${view.title} – Owner's dashboard`;
  }
  if (name === "bookings") {
    if (id) await openBooking(id);
    else if (!entering) $("bookings-title").focus();
    return;
  }
  // Moving between views puts the reader at the new view's heading; the first view shown after sign-in keeps the
  // focus where sign-in put it.
  if (!entering) $(`${name}-title`).focus();
  try {
    await views[name].show(id);
  } catch (error) {
    if (state.token) problem(explain(error));
  }
}

// ---- filters, list, totals -------------------------------------------------------------------------------------------

function readFilters() {
  const filters = {};
  if ($("f-status").value) filters.status = $("f-status").value;
  if ($("f-from").value) filters.from = $("f-from").value;
  if ($("f-to").value) filters.to = $("f-to").value;
  if ($("f-flagged").checked) filters.flagged = "true";
  if ($("f-balance").checked) filters.balance_due = "true";
  return filters;
}

const query = (params) => {
  const text = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== null && v !== undefined && v !== "")).toString();
  return text ? "?" + text : "";
};

// Each list load takes a ticket: an answer to an earlier load (the unfiltered first page, slower than the filtered
// one the owner asked for since) is dropped, never drawn over the newer one.
let listTicket = 0;

async function loadBookings() {
  const ticket = ++listTicket;
  const cursor = state.cursors[state.cursors.length - 1];
  const table = $("bookings");
  table.setAttribute("aria-busy", "true");
  try {
    const [page] = await Promise.all([
      call("/admin/bookings" + query({ ...state.filters, limit: PAGE_SIZE, cursor })),
      state.cursors.length === 1 ? loadTotals(ticket) : null,
    ]);
    if (ticket === listTicket) renderBookings(page);
  } catch (error) {
    if (state.token && ticket === listTicket) problem(explain(error));
  } finally {
    if (ticket === listTicket) table.removeAttribute("aria-busy");
  }
}

function renderBookings(page) {
  state.nextCursor = page.next_cursor;
  const rows = page.bookings.map((b) =>
    el(
      "tr",
      { "data-booking": b.booking_id, class: state.selected && state.selected.booking_id === b.booking_id ? "dash-selected" : null },
      el("td", {}, when(b.start)),
      el("th", { scope: "row" }, el("button", { type: "button", class: "dash-link", onclick: () => openBooking(b.booking_id) }, b.client_name)),
      el("td", {}, serviceName(b.service_id)),
      el("td", {}, statusBadge(b.status)),
      el("td", { class: "dash-num" }, money(b.payment.amount_paid - b.payment.amount_refunded, b.payment.currency)),
      el("td", { class: "dash-num" }, SLOT_KEEPING.includes(b.status) ? money(b.payment.balance_due, b.payment.currency) : "–"),
      el("td", {}, b.flags.filter((f) => f.open).map((f) => el("span", { class: "kit-badge dash-flag", "data-kind": "warn" }, titleCase(f.code)))),
    ),
  );
  $("bookings").tBodies[0].replaceChildren(...rows);
  $("list-empty").hidden = rows.length > 0;
  $("prev-page").disabled = state.cursors.length <= 1;
  $("next-page").disabled = !state.nextCursor;
  $("page-label").textContent = `Page ${state.cursors.length}`;
  $("bookings-caption").textContent = `Bookings in start order, page ${state.cursors.length}`;
  $("zone-note").textContent = `Times in ${zone().replace(/_/g, " ")}.`;
}

function statusBadge(status) {
  const kind = ["CANCELLED", "EXPIRED", "SLOT_UNAVAILABLE", "NO_SHOW", "HELD"].includes(status) ? "warn" : "";
  return el("span", { class: "kit-badge", "data-kind": kind || null }, titleCase(status));
}

async function loadTotals(ticket) {
  const panel = $("totals");
  panel.setAttribute("aria-busy", "true");
  const { status, from, to, flagged, balance_due } = state.filters;
  try {
    const totals = await call("/admin/summary" + query({ status, from, to, flagged, balance_due }));
    if (ticket !== listTicket) return;
    $("t-count").textContent = String(totals.count);
    $("t-deposits").textContent = money(totals.deposits_taken, totals.currency);
    $("t-paid").textContent = money(totals.paid_total, totals.currency);
    $("t-refunded").textContent = money(totals.refunded_total, totals.currency);
    $("t-balance").textContent = money(totals.balance_due, totals.currency);
    const statuses = Object.entries(totals.by_status).map(([s, n]) => `${titleCase(s)}: ${n}`);
    const others = Object.keys(totals.by_currency).filter((c) => c !== totals.currency);
    $("t-by-status").textContent =
      (statuses.length ? "By status: " + statuses.join(", ") + "." : "") +
      (others.length ? ` Amounts in ${totals.currency.toUpperCase()}; bookings in ${others.join(", ").toUpperCase()} are not in these sums.` : "");
  } catch (error) {
    if (state.token && ticket === listTicket) problem(explain(error));
  } finally {
    if (ticket === listTicket) panel.removeAttribute("aria-busy");
  }
}

// ---- alerts ------------------------------------------------------------------------------------------------------------

async function loadAlerts(fresh) {
  if (fresh) state.alertsCursor = null;
  try {
    const page = await call("/admin/alerts" + query({ limit: ALERTS_PAGE, cursor: state.alertsCursor }));
    const items = page.alerts.map((alert) =>
      el(
        "li",
        { class: "dash-alert", "data-code": alert.code },
        el("p", { class: "dash-alert-subject" }, el("strong", {}, alert.subject)),
        el("p", { class: "kit-muted dash-alert-when" }, when(alert.at), alert.amount != null ? ` · ${money(alert.amount, alert.currency)}` : ""),
        el("p", { class: "dash-alert-message" }, alertBody(alert.message)),
        el(
          "p",
          { class: "dash-alert-links" },
          alert.booking_id ? el("button", { type: "button", class: "dash-link", onclick: () => openBooking(alert.booking_id) }, `Open booking ${alert.booking_id}`) : null,
          alert.payment_intent_id ? ["PaymentIntent ", stripeId(alert.payment_intent_id)] : null,
        ),
      ),
    );
    if (fresh) $("alerts").replaceChildren(...items);
    else $("alerts").append(...items);
    state.alertsCursor = page.next_cursor;
    $("alerts-more").hidden = !page.next_cursor;
    $("attention-empty").hidden = $("alerts").children.length > 0;
  } catch (error) {
    if (state.token) problem(explain(error));
  }
}

/** The alert's e-mail text without what the panel shows otherwise: its first paragraph (the subject again), the
 * PaymentIntent line (a link below) and the API path of the booking (a button below). */
function alertBody(message) {
  const paragraphs = String(message).split("\n\n");
  const body = (paragraphs.length > 1 ? paragraphs.slice(1) : paragraphs).join("\n\n");
  return body
    .split("\n")
    .filter((line) => !/^(PaymentIntent: |Details: GET )/.test(line))
    .join("\n")
    .trim();
}

// ---- one booking ----------------------------------------------------------------------------------------------------------

async function openBooking(bookingId) {
  say("Loading the booking…");
  try {
    const booking = await call(`/admin/bookings/${encodeURIComponent(bookingId)}`);
    renderDetail(booking);
    const detail = $("detail");
    detail.hidden = false;
    detail.scrollIntoView({ block: "start" });
    $("detail-title").focus();
    say(`Showing the booking of ${booking.client_name}.`);
  } catch (error) {
    if (state.token) problem(explain(error));
  }
}

/** The booking's options (issue 12): promo code, package credit, backup time, reschedules, manage link. */
function optionFacts(b) {
  const cur = b.payment.currency;
  return [
    ["Promo code", b.promo_code ? el("code", { class: "dash-code" }, b.promo_code) : "None"],
    ["Discount", b.discount ? money(b.discount, cur) : "None"],
    ["Package", b.package_id ? el("a", { href: `#packages/${encodeURIComponent(b.package_id)}` }, "A credit of ", el("code", {}, b.package_id)) : "None"],
    ["Backup time", b.backup_start ? when(b.backup_start) : "None given"],
    ["Reschedules", String(b.reschedule_count)],
    ["Manage link", b.manage_link ? "The client has one" : "None (not issued, or revoked)"],
  ];
}

function refundable(b) {
  return Math.max(b.payment.amount_paid - b.payment.amount_refunded, 0);
}

function renderDetail(b) {
  state.selected = b;
  for (const row of $("bookings").tBodies[0].rows) row.classList.toggle("dash-selected", row.dataset.booking === b.booking_id);
  const p = b.payment;
  const cur = p.currency;
  const owner = state.role === "owner";
  const started = new Date(b.start).getTime() <= Date.now();
  const actions = owner
    ? el(
        "div",
        { class: "kit-actions dash-actions" },
        el("button", { type: "button", class: "kit-button", id: "act-refund", disabled: refundable(b) <= 0, onclick: () => confirmRefund(b) }, "Refund…"),
        el("button", { type: "button", class: "kit-button", id: "act-collect", disabled: !(SLOT_KEEPING.includes(b.status) && p.balance_due > 0), onclick: () => confirmCollect(b) }, "Collect balance…"),
        el("button", { type: "button", class: "kit-button kit-button-secondary", id: "act-cancel", disabled: !["HELD", ...SLOT_KEEPING].includes(b.status) || b.status === "COMPLETED", onclick: () => confirmCancel(b) }, "Cancel booking…"),
        el("button", { type: "button", class: "kit-button kit-button-secondary", id: "act-no-show", disabled: !(SLOT_KEEPING.includes(b.status) && started), onclick: () => confirmNoShow(b) }, "No-show…"),
        el("button", { type: "button", class: "kit-button kit-button-secondary", id: "act-revoke-link", disabled: !b.manage_link, onclick: () => confirmRevoke(b) }, "Revoke manage link…"),
      )
    : el("p", { class: "kit-notice" }, "Staff can read bookings; only owners can refund, cancel, collect a balance, mark a no-show, revoke a manage link or close a flag.");

  const firstPayment = [
    when(b.created_at),
    titleCase(p.payment_type === "full" ? "paid in full" : "deposit"),
    "Card, when booking",
    money(p.deposit, cur),
    titleCase(p.payment_status || "–"),
    stripeId(p.payment_intent_id),
  ];
  const later = p.later_payments.map((x) => [
    when(x.at),
    titleCase(x.purpose),
    titleCase(x.method),
    money(x.amount, cur),
    titleCase(x.status) + (x.error ? ` (${x.error})` : ""),
    x.method === "offline" ? x.payment_id : stripeId(x.payment_id),
  ]);
  const refunds = b.refunds.map((r) => [when(r.at), money(r.amount, cur), titleCase(r.purpose), r.failed ? "Failed at the bank" : "Made", stripeId(r.refund_id), r.reason || "–"]);
  const history = b.history.map((h) => [when(h.at), h.actor, h.source === h.target ? titleCase(h.target) : `${titleCase(h.source)} → ${titleCase(h.target)}`, h.reason]);

  const flags = b.flags.length
    ? el(
        "ul",
        { class: "dash-flags" },
        b.flags.map((f) =>
          el(
            "li",
            { "data-flag": f.code, class: f.open ? "dash-flag-open" : "dash-flag-closed" },
            el("strong", {}, titleCase(f.code)),
            ` (${f.open ? "open" : "resolved"}, ${when(f.at)}): ${f.reason}`,
            f.open
              ? owner
                ? [" ", el("button", { type: "button", class: "kit-button kit-button-secondary dash-small", onclick: () => confirmResolve(b, f) }, "Resolve…")]
                : null
              : el("span", { class: "kit-muted" }, ` Closed by ${f.resolved_by || "–"} ${when(f.resolved_at)}: ${f.resolution || ""}`),
          ),
        ),
      )
    : el("p", { class: "kit-muted" }, "No flags.");

  fill(
    $("detail"),
    el("h2", { id: "detail-title", tabindex: "-1" }, `${b.client_name} · ${serviceName(b.service_id)}`),
    el("p", {}, statusBadge(b.status), " ", el("span", { class: "kit-muted" }, `${when(b.start, { dateStyle: "full", timeStyle: "short" })} – ${when(b.end, { timeStyle: "short" })}`)),
    actions,
    el(
      "div",
      { class: "dash-columns" },
      el(
        "section",
        { "aria-labelledby": "d-money" },
        el("h3", { id: "d-money" }, "Money"),
        facts([
          ["Price", money(p.total, cur)],
          [p.payment_type === "full" ? "Paid up front" : "Deposit", money(p.deposit, cur)],
          ["Paid in total", money(p.amount_paid, cur)],
          ["Refunded", money(p.amount_refunded, cur)],
          ["Balance due", SLOT_KEEPING.includes(b.status) ? money(p.balance_due, cur) : "–"],
          ["Balance", titleCase(p.balance_state)],
          ["Money settled", p.money_settled ? "Yes" : "No: a refund or reversal is still to be made"],
          p.payment_error ? ["Payment error", p.payment_error] : null,
          p.dispute_id ? ["Dispute", [stripeId(p.dispute_id), ` ${p.dispute_status || ""}`]] : null,
        ]),
      ),
      el("section", { "aria-labelledby": "d-options", id: "d-options-section" }, el("h3", { id: "d-options" }, "Booking options"), facts(optionFacts(b))),
      el(
        "section",
        { "aria-labelledby": "d-who" },
        el("h3", { id: "d-who" }, "Client and ids"),
        facts([
          ["Client", b.client_name],
          ["Email", el("a", { href: `mailto:${b.client_email}` }, b.client_email)],
          b.client_phone ? ["Phone", b.client_phone] : null,
          ["Booking", el("code", {}, b.booking_id)],
          ["PaymentIntent", stripeId(p.payment_intent_id)],
          ["Charge", stripeId(p.charge_id)],
          ["Cal.com booking", b.cal_booking_uid ? el("code", {}, b.cal_booking_uid) : "–"],
          ["Provider payout", `${titleCase(b.payout.state || "none")}, ${money(b.payout.transferred - b.payout.reversed, cur)}`],
          b.payout.transfer_id ? ["Transfer", stripeId(b.payout.transfer_id)] : null,
          b.cancelled_at ? ["Cancelled", `${when(b.cancelled_at)} by ${b.cancelled_by || "–"}`] : null,
        ]),
      ),
    ),
    el("h3", {}, "Flags"),
    flags,
    el("h3", {}, "Payments"),
    table("Payments", ["When", "What", "How", "Amount", "Status", "Id"], [firstPayment, ...later], "No payment."),
    el("h3", {}, "Refunds"),
    table("Refunds", ["When", "Amount", "Purpose", "Outcome", "Stripe refund", "Why"], refunds, "No refund."),
    el("section", { "aria-labelledby": "d-messages", id: "d-messages-section" }, el("h3", { id: "d-messages" }, "Messages"), el("p", { class: "kit-muted", id: "messages-loading" }, "Loading the messages…")),
    el("h3", {}, "History"),
    table("History: who did what, when", ["When", "Who", "Change", "Why"], history, "No history."),
  );
  loadMessages(b.booking_id);
}

// ---- a booking's messages ----------------------------------------------------------------------------------------------

const MESSAGE_KINDS = {
  confirmed: "Booking confirmation",
  reminder: "Reminder",
  rescheduled: "New time",
  cancelled: "Cancellation",
  payment_received: "Payment receipt",
  payment_action: "Payment needs action",
  refund_issued: "Refund",
  slot_lost: "Slot lost",
  package_bought: "Package bought",
  credit_used: "Package credit used",
  owner_alert: "Alert to the owner",
};

function messageName(m) {
  const name = MESSAGE_KINDS[m.kind] || titleCase(m.kind);
  const hours = m.kind === "reminder" ? /^reminder:(\d+):/.exec(m.message_key) : null;
  return hours ? `${name}, ${hours[1]} h before` : name;
}

/** Where a message stands: a badge, and what the owner needs to know (when it went, when it is due, why not). */
function messageStatus(m) {
  const tries = m.attempts > 1 ? `, after ${m.attempts} tries` : "";
  const [text, kind, detail] = {
    SENT: ["Sent", null, `${when(m.sent_at)}${tries}`],
    PENDING: ["Pending", "info", m.send_at ? `Due ${when(m.send_at)}` + (m.last_error ? `; the last try failed: ${m.last_error}` : "") : "–"],
    SENDING: ["Sending", "info", m.send_at ? `Started; retried ${when(m.send_at)} if it stalls` : "Being sent"],
    FAILED: ["Failed", "error", `${m.last_error || "No reason given"} (${m.attempts} ${m.attempts === 1 ? "try" : "tries"})`],
    WITHDRAWN: ["Withdrawn", "muted", m.withdrawn_reason || "Not needed any more"],
  }[m.status] || [titleCase(m.status), "muted", "–"];
  return [el("span", { class: "kit-badge", "data-kind": kind }, text), detail];
}

async function loadMessages(bookingId) {
  const section = $("d-messages-section");
  section.setAttribute("aria-busy", "true");
  let content;
  try {
    const answer = await call(`/admin/bookings/${encodeURIComponent(bookingId)}/messages`);
    const rows = answer.messages.map((m) => {
      const [badge, detail] = messageStatus(m);
      return [messageName(m), m.channel === "sms" ? "Text" : "Email", m.recipient, badge, detail];
    });
    content = table("Messages to the client and the owner about this booking", ["Message", "Channel", "To", "Status", "Details"], rows, "No message was sent or planned.", {
      id: "messages",
      rowAttributes: (r) => ({ "data-status": answer.messages[r].status, "data-kind": answer.messages[r].kind }),
    });
  } catch (error) {
    if (!state.token) return;
    content = el("p", { class: "kit-error", id: "messages-error" }, `The messages could not be loaded: ${explain(error)}`);
  } finally {
    section.removeAttribute("aria-busy");
  }
  if (state.selected?.booking_id !== bookingId || !section.isConnected) return; // another booking is shown now
  fill(section, section.querySelector("h3"), content);
}

// ---- the confirm dialog ------------------------------------------------------------------------------------------------------

// {title, fields, effect(), label(), path, method?, body()?, invalid()?, done, onDone(answer, key)?, onError(error)?,
// key, keyFor}
let pending = null;

const chosen = (name) => document.querySelector(`#confirm-fields input[name="${name}"]:checked`)?.value;

function openDialog(action) {
  pending = { ...action, key: null, keyFor: null };
  $("confirm-title").textContent = action.title;
  $("confirm-fields").replaceChildren(...action.fields);
  $("confirm-error").hidden = true;
  $("confirm-go").disabled = false;
  refreshDialog();
  const dialog = $("confirm");
  dialog.showModal();
  (dialog.querySelector("#confirm-fields input, #confirm-fields textarea") || $("confirm-go")).focus();
}

function refreshDialog() {
  if (!pending) return;
  const problemText = pending.invalid ? pending.invalid() : null;
  $("confirm-effect").textContent = problemText || pending.effect();
  $("confirm-effect").dataset.kind = problemText ? "error" : "";
  $("confirm-go").textContent = pending.label();
  $("confirm-go").disabled = Boolean(problemText);
}

async function submitDialog(event) {
  event.preventDefault();
  if (!pending || $("confirm-go").disabled) return;
  const action = pending;
  const body = action.body ? action.body() : undefined;
  // One key per confirmed action: a retry of the same request (a lost answer) reuses it, another request gets a new one.
  const bodyText = JSON.stringify(body);
  if (action.keyFor !== bodyText) {
    action.key = uuid();
    action.keyFor = bodyText;
  }
  $("confirm-go").disabled = true;
  $("confirm-error").hidden = true;
  say("Sending…");
  try {
    const answer = await call(action.path, { method: action.method || "POST", body, headers: { "Idempotency-Key": action.key } });
    $("confirm").close();
    pending = null;
    if (action.onDone) {
      await action.onDone(answer, action.key);
      return;
    }
    const booking = answer.booking || answer;
    let message = answer.message || action.done;
    if (answer.collection && answer.collection.pay_url) message += ` Pay link for the client: ${answer.collection.pay_url}`;
    renderDetail(booking);
    say(message);
    showResult(message);
    await Promise.all([loadBookings(), loadAlerts(true)]);
    $("detail-title").focus();
  } catch (error) {
    // A refusal about what the view's form asked (a field it has) goes back to that form, by field.
    if (action.onError && action.onError(error)) {
      $("confirm").close();
      say("");
      return;
    }
    const fields = error instanceof ApiError && error.fields.length ? " " + error.fields.map((f) => `${f.field}: ${f.message}`).join("; ") : "";
    $("confirm-error").textContent = explain(error) + fields;
    $("confirm-error").hidden = false;
    $("confirm-go").disabled = false;
    say("");
    if (!state.token) $("confirm").close();
  }
}

function showResult(message) {
  const note = el("p", { class: "kit-notice dash-result", id: "action-result", "data-kind": "success" }, message);
  $("action-result")?.remove();
  $("detail-title").after(note);
}

function confirmRefund(b) {
  const cur = b.payment.currency;
  const max = refundable(b);
  const amount = el("input", { id: "c-amount", inputmode: "decimal", autocomplete: "off", value: fromMinor(max, cur), "aria-describedby": "c-amount-hint" });
  const reason = el("input", { id: "c-reason", autocomplete: "off", maxlength: "500", required: true, value: "" });
  const minor = () => toMinor(amount.value, cur);
  openDialog({
    title: `Refund ${b.client_name}`,
    fields: [
      field("c-amount", `Amount (${cur.toUpperCase()})`, amount, `At most ${money(max, cur)}: what was paid less what was refunded.`),
      field("c-reason", "Reason (in the history)", reason),
    ],
    invalid: () => {
      const value = minor();
      if (!Number.isFinite(value) || value <= 0) return "Enter an amount greater than zero, e.g. 20.00.";
      if (value > max) return `At most ${money(max, cur)} can be refunded.`;
      if (!reason.value.trim()) return "Give a reason: it goes in the booking's history.";
      return null;
    },
    effect: () =>
      `Refund ${money(minor(), cur)} to the client's card (${money(b.payment.amount_paid, cur)} paid, ${money(b.payment.amount_refunded, cur)} refunded so far; ${money(max - minor(), cur)} stays paid). ` +
      "If the provider was paid, their share of it is taken back. This cannot be undone.",
    label: () => `Refund ${Number.isFinite(minor()) ? money(minor(), cur) : ""}`.trim(),
    body: () => ({ amount: minor(), reason: reason.value.trim() }),
    path: `/admin/bookings/${b.booking_id}/refund`,
    done: "Refunded.",
  });
  for (const input of [amount, reason]) input.addEventListener("input", refreshDialog);
}

function confirmCancel(b) {
  const cur = b.payment.currency;
  const reason = el("input", { id: "c-reason", autocomplete: "off", maxlength: "500", required: true });
  const choices = radios("refund", "Refund", [
    ["policy", "By the cancellation policy (as if the client cancelled now)"],
    ["full", `In full (${money(refundable(b), cur)})`],
    ["none", "Nothing"],
  ], "policy");
  openDialog({
    title: `Cancel ${b.client_name}'s booking`,
    fields: [choices, field("c-reason", "Reason (in the history)", reason)],
    invalid: () => (reason.value.trim() ? null : "Give a reason: it goes in the booking's history."),
    effect: () => {
      const what = `Cancel the ${serviceName(b.service_id)} on ${when(b.start)} in Cal.com and free the slot. `;
      const refund = {
        policy: "Refund what the service's cancellation policy gives back if the client cancelled now (a late cancellation keeps the fee).",
        full: `Refund ${money(refundable(b), cur)}, everything still refundable.`,
        none: `Refund nothing: ${money(refundable(b), cur)} stays paid.`,
      }[chosen("refund")];
      return what + refund;
    },
    label: () => "Cancel the booking",
    body: () => ({ reason: reason.value.trim(), refund: chosen("refund") }),
    path: `/admin/bookings/${b.booking_id}/cancel`,
    done: "Cancelled.",
  });
  reason.addEventListener("input", refreshDialog);
  choices.addEventListener("change", refreshDialog);
}

function confirmCollect(b) {
  const cur = b.payment.currency;
  const due = b.payment.balance_due;
  const choices = radios("method", "How", [
    ["card_on_file", "Charge the card saved with the deposit"],
    ["offline", "Record a payment made in cash or on a terminal"],
  ], "card_on_file");
  openDialog({
    title: `Collect ${b.client_name}'s balance`,
    fields: [choices],
    effect: () =>
      chosen("method") === "offline"
        ? `Record the balance of ${money(due, cur)} as paid outside Stripe. No card is charged; an open card payment of the balance is cancelled.`
        : `Charge the balance of ${money(due, cur)} to the card saved with the deposit, now. If the card needs the client or is declined, you get a pay link for them.`,
    label: () => `Collect ${money(due, cur)}`,
    body: () => ({ method: chosen("method") }),
    path: `/admin/bookings/${b.booking_id}/collect-balance`,
    done: "Balance collected.",
  });
  choices.addEventListener("change", refreshDialog);
}

function confirmNoShow(b) {
  const cur = b.payment.currency;
  const note = el("input", { id: "c-note", autocomplete: "off", maxlength: "500" });
  openDialog({
    title: `${b.client_name} did not come`,
    fields: [field("c-note", "Note (optional, in the history)", note)],
    effect: () =>
      `Mark the booking a no-show: the ${money(b.payment.amount_paid, cur)} paid is kept, and the service's no-show fee, less what was paid, is charged once to the saved card.`,
    label: () => "Mark as no-show",
    body: () => (note.value.trim() ? { note: note.value.trim() } : {}),
    path: `/admin/bookings/${b.booking_id}/no-show`,
    done: "Marked as a no-show.",
  });
}

function confirmRevoke(b) {
  const note = el("input", { id: "c-note", autocomplete: "off", maxlength: "500" });
  openDialog({
    title: `Revoke ${b.client_name}'s manage link`,
    fields: [field("c-note", "Note (optional, in the history)", note)],
    effect: () =>
      `The link sent with the confirmation stops working at once: ${b.client_name} can no longer see, cancel or reschedule this booking from it. ` +
      "The booking itself does not change and no money moves.",
    label: () => "Revoke the link",
    path: `/admin/bookings/${b.booking_id}/manage-link/revoke`,
    body: () => (note.value.trim() ? { note: note.value.trim() } : {}),
    done: "Manage link revoked.",
  });
}

function confirmResolve(b, flag) {
  const note = el("textarea", { id: "c-note", rows: "3", maxlength: "500", required: true });
  openDialog({
    title: `Close the flag “${titleCase(flag.code)}”`,
    fields: [field("c-note", "What was done about it", note)],
    invalid: () => (note.value.trim() ? null : "Write what was done: it is kept with the flag."),
    effect: () => `Close the flag “${flag.reason}” on ${b.client_name}'s booking with your note. No money moves.`,
    label: () => "Close the flag",
    body: () => ({ note: note.value.trim() }),
    path: `/admin/bookings/${b.booking_id}/flags/${encodeURIComponent(flag.code)}/resolve`,
    done: "Flag closed.",
  });
  note.addEventListener("input", refreshDialog);
}

// ---- start -------------------------------------------------------------------------------------------------------------------

function wire() {
  $("sign-in-button").addEventListener("click", () => startCognitoSignIn().catch((e) => problem(e.message)));
  $("dev-token-owner").addEventListener("click", () => devToken("owner").catch((e) => showSignIn(explain(e))));
  $("dev-token-staff").addEventListener("click", () => devToken("staff").catch((e) => showSignIn(explain(e))));
  $("paste-form").addEventListener("submit", (event) => {
    event.preventDefault();
    try {
      useToken($("paste-token").value.trim());
    } catch (error) {
      problem(error.message);
      return;
    }
    $("paste-token").value = "";
    enterApp();
  });
  $("sign-out").addEventListener("click", () => signOut());
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    state.filters = readFilters();
    state.cursors = [null];
    problem("");
    loadBookings().then(() => say(`Showing ${$("t-count").textContent} bookings.`));
  });
  $("reset").addEventListener("click", () => {
    $("filters").reset();
    state.filters = {};
    state.cursors = [null];
    loadBookings();
  });
  $("next-page").addEventListener("click", () => {
    if (!state.nextCursor) return;
    state.cursors.push(state.nextCursor);
    loadBookings().then(() => say(`Page ${state.cursors.length}.`));
  });
  $("prev-page").addEventListener("click", () => {
    if (state.cursors.length > 1) state.cursors.pop();
    loadBookings().then(() => say(`Page ${state.cursors.length}.`));
  });
  $("alerts-more").addEventListener("click", () => loadAlerts(false));
  $("confirm-form").addEventListener("submit", submitDialog);
  $("confirm-back").addEventListener("click", () => $("confirm").close());
  $("confirm").addEventListener("close", () => {
    pending = null;
  });
  window.addEventListener("hashchange", () => route());
}

/** What the other views get from here: the API with the owner's token, the messages, formats and the dialog. */
function viewContext() {
  return {
    call,
    say,
    problem,
    explain,
    money,
    when,
    zone,
    serviceName,
    bookingLink,
    openDialog,
    refreshDialog,
    role: () => state.role,
    config: () => state.config,
    api: () => state.api, // the reports' CSV is fetched as text with the owner's token
    token: () => state.token,
    uuid,
  };
}

async function start() {
  wire();
  const context = viewContext();
  views = { promos: promosView(context), blocks: blocksView(context), packages: packagesView(context), reports: reportsView(context) };
  try {
    state.api = await apiBase();
    state.config = await getConfig(state.api);
    state.signIn = state.config.owner_sign_in || { mode: "none" };
  } catch (error) {
    problem(`The booking service cannot be reached: ${explain(error)}`);
    return;
  }
  const params = new URLSearchParams(location.search);
  try {
    if (state.signIn.mode === "cognito" && (params.get("code") || params.get("error"))) await finishCognitoSignIn(params);
    const saved = state.token || sessionStorage.getItem(TOKEN_KEY);
    if (saved) {
      if (!state.token) useToken(saved);
      await enterApp();
      return;
    }
  } catch (error) {
    sessionStorage.removeItem(TOKEN_KEY);
    showSignIn(explain(error));
    return;
  }
  showSignIn();
}

start();
