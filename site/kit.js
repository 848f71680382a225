// The site kit's shared module: where the API lives, JSON requests that turn the API's error shape into an
// ApiError, money and date formatting, Stripe.js loading, and a tiny DOM builder. Imported by the booking widget
// (from any origin, relative to its own URL), the verify and pay pages, and the owner's dashboard: keep the exported
// names and signatures stable.

const KIT_URL = new URL(import.meta.url);

/** The error the API answered, or a network failure (status 0, code "network_error"). */
export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    const detail = (body && body.error) || {};
    super(detail.message || (status ? `The server answered ${status}.` : "We could not reach the server."));
    this.name = "ApiError";
    this.status = status;
    this.code = detail.code || (status ? "http_" + status : "network_error");
    this.fields = Array.isArray(detail.fields) ? detail.fields : [];
    this.details = detail; // the whole error object: extra keys such as rebook_until, token, reason
    this.retryAfter = retryAfter; // seconds, or null
  }
}

const siteConfigs = new Map();

/** The site's own config (`site-config.json` next to kit.js: `{"api": "..."}`), fetched once. */
export function siteConfig(url = new URL("site-config.json", KIT_URL).href) {
  if (!siteConfigs.has(url)) siteConfigs.set(url, getJson(url));
  return siteConfigs.get(url);
}

/** The API base URL without a trailing slash: the explicit one if given, else site-config.json's. */
export async function apiBase(explicit) {
  const base = explicit || (await siteConfig()).api;
  if (!base) throw new ApiError(0, { error: { code: "no_api", message: "This page does not know where the booking service is." } });
  return String(base).replace(/\/+$/, "");
}

function retryAfterSeconds(response) {
  const value = response.headers.get("Retry-After");
  if (!value) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

/**
 * fetch() a JSON resource. Resolves the parsed body of a 2xx; rejects with ApiError otherwise.
 * options: {method, body (an object, sent as JSON), headers, token (Bearer), signal}.
 */
export async function fetchJson(url, { method, body, headers = {}, token, signal } = {}) {
  const init = { method: method || (body === undefined ? "GET" : "POST"), headers: { Accept: "application/json", ...headers }, signal };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (token) init.headers.Authorization = "Bearer " + token;
  let response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    if (error && error.name === "AbortError") throw error;
    throw new ApiError(0, null, null);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    // API Gateway's own 401 is {"message": "Unauthorized"}: give it the documented shape.
    const shaped = data && data.error ? data : { error: { code: response.status === 401 ? "unauthorized" : undefined, message: data && data.message } };
    throw new ApiError(response.status, shaped, retryAfterSeconds(response));
  }
  return data;
}

export const getJson = (url, options) => fetchJson(url, { ...options, method: "GET" });

/** `fetchJson(base + path, options)` against the API. */
export function apiRequest(base, path, options) {
  return fetchJson(base + path, options);
}

const configs = new Map();

/** GET {api}/config, once per API base. */
export function getConfig(base) {
  if (!configs.has(base)) {
    const pending = getJson(base + "/config");
    pending.catch(() => configs.delete(base)); // a failed read may be retried
    configs.set(base, pending);
  }
  return configs.get(base);
}

/** A random UUID (for Idempotency-Key). */
export function uuid() {
  if (globalThis.crypto && crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- money and dates -------------------------------------------------------------------------------------------

/** An amount in the currency's minor unit, as the reader's locale writes it: formatMoney(8250, "usd") -> "$82.50". */
export function formatMoney(amount, currency, locale) {
  const format = new Intl.NumberFormat(locale, { style: "currency", currency: String(currency).toUpperCase() });
  const digits = format.resolvedOptions().maximumFractionDigits;
  return format.format(Number(amount) / 10 ** digits);
}

/**
 * A service's or package's prices, one per currency, its default first, each with its `deposit` when /config gives
 * one: /config lists `price` (+ `deposit`), `prices` (every currency offered) and `deposits` (one per currency).
 */
export function pricesOf(item) {
  const deposits = item.deposits || (item.deposit ? [item.deposit] : []);
  const seen = new Set();
  return [item.price, ...(item.prices || [])]
    .filter((price) => price && !seen.has(price.currency) && seen.add(price.currency))
    .map((price) => {
      const deposit = deposits.find((d) => d.currency === price.currency);
      return deposit ? { ...price, deposit } : price;
    });
}

/** A service with nothing to pay (price 0): no payment step at all. */
export const isFree = (service) => (service.free !== undefined ? Boolean(service.free) : Number(service.price.amount) === 0);

/** "1 credit", "3 credits". */
export const countOf = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** The browser's IANA time zone. */
export function clientTimeZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

/** A zone as people read it: "America/New_York (EST)". */
export function zoneLabel(timeZone, at = new Date()) {
  const part = new Intl.DateTimeFormat("en-US", { timeZone, timeZoneName: "short" }).formatToParts(at).find((p) => p.type === "timeZoneName");
  const name = timeZone.replace(/_/g, " ");
  return part && part.value !== timeZone ? `${name} (${part.value})` : name;
}

/** Today's date (YYYY-MM-DD) in a time zone. */
export function todayIn(timeZone, at = new Date()) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-US", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" }).formatToParts(at).map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day}`;
}

/** A calendar date (YYYY-MM-DD) moved by n days. */
export function addDays(isoDate, n) {
  const day = new Date(isoDate + "T00:00:00Z");
  day.setUTCDate(day.getUTCDate() + n);
  return day.toISOString().slice(0, 10);
}

/** A calendar date (YYYY-MM-DD) for people: "Mon, Dec 7". */
export function formatDay(isoDate, options = { weekday: "short", month: "short", day: "numeric" }, locale) {
  return new Intl.DateTimeFormat(locale, { ...options, timeZone: "UTC" }).format(new Date(isoDate + "T00:00:00Z"));
}

/** An instant's time of day in a zone: "2:30 PM". */
export function formatTime(iso, timeZone, locale) {
  return new Intl.DateTimeFormat(locale, { timeZone, hour: "numeric", minute: "2-digit" }).format(new Date(iso));
}

/** A meeting's span in a zone, with the zone's short name: "Monday, December 7, 2026, 9:00 – 10:00 AM PST". */
export function formatRange(startIso, endIso, timeZone, locale) {
  const format = new Intl.DateTimeFormat(locale, {
    timeZone, weekday: "long", year: "numeric", month: "long", day: "numeric", hour: "numeric", minute: "2-digit", timeZoneName: "short",
  });
  const start = new Date(startIso);
  const end = new Date(endIso);
  return format.formatRange ? format.formatRange(start, end) : `${format.format(start)} – ${format.format(end)}`;
}

/** An instant with its date in a zone: "Monday, December 7, 2026 at 2:30 PM". */
export function formatDateTime(iso, timeZone, locale, options = { dateStyle: "full", timeStyle: "short" }) {
  return new Intl.DateTimeFormat(locale, { ...options, timeZone }).format(new Date(iso));
}

// ---- Stripe.js ---------------------------------------------------------------------------------------------------

let stripeScript = null;

/**
 * window.Stripe, loading Stripe.js from jsUrl with a classic <script> unless it is there already.
 * The kit relies only on: Stripe(pk), stripe.elements({clientSecret, appearance}), elements.create("payment"),
 * element.mount(el), element.on("change", cb), elements.submit(), stripe.confirmPayment({elements, confirmParams:
 * {return_url}, redirect: "if_required"}), stripe.retrievePaymentIntent(clientSecret), stripe.handleNextAction({clientSecret}).
 */
export function loadStripe(jsUrl) {
  if (window.Stripe) return Promise.resolve(window.Stripe);
  if (!stripeScript) {
    stripeScript = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = jsUrl;
      script.async = true;
      script.onload = () => (window.Stripe ? resolve(window.Stripe) : reject(new Error("Stripe.js did not load.")));
      script.onerror = () => {
        stripeScript = null;
        script.remove();
        reject(new Error("The payment form could not load. Check your connection and try again."));
      };
      document.head.appendChild(script);
    });
  }
  return stripeScript;
}

// ---- DOM -------------------------------------------------------------------------------------------------------

/**
 * el("button", {class: "x", type: "button", onclick: fn, disabled: true}, "text", child, ...): attributes set as
 * attributes (true -> "", false/null/undefined -> absent), on* keys as listeners, children as nodes or text.
 */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** The query parameters of the current page. */
export const pageParams = () => new URLSearchParams(location.search);
