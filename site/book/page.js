// What the verify and pay pages share: their title, a live status line, content, notices with a Retry that honours
// Retry-After, and the facts list of a booking.

import { ApiError, apiBase, el, getConfig, sleep } from "../kit.js";

export const title = document.getElementById("page-title");
const status = document.getElementById("page-status");
const content = document.getElementById("page-content");

/** The API base and its /config; the business's name goes into the header. */
export async function setUp() {
  const api = await apiBase();
  const config = await getConfig(api);
  const name = config.business && config.business.name;
  if (name) for (const node of document.querySelectorAll("[data-business-name]")) node.textContent = name;
  return { api, config };
}

export function announce(text) {
  status.textContent = "";
  setTimeout(() => (status.textContent = text), 50);
}

/** A new screen: its heading (focused, announced) and content. */
export function show(heading, ...nodes) {
  title.textContent = heading;
  document.title = heading;
  content.replaceChildren(...nodes.flat().filter(Boolean));
  title.focus();
}

/** A notice box; with `retry`, a Retry button that waits `retryAfter` seconds first. */
export function notice(message, { kind = "info", retry, retryAfter = 0 } = {}) {
  const box = el("div", { class: "kit-notice", "data-kind": kind, role: kind === "error" ? "alert" : "status" }, el("p", {}, message));
  if (retry) {
    const button = el("button", { type: "button", class: "kit-button kit-button-secondary kit-retry" }, "Retry");
    button.addEventListener("click", async () => {
      if (button.disabled) return;
      button.disabled = true;
      try {
        await retry();
      } finally {
        button.disabled = false;
      }
    });
    let left = Math.ceil(retryAfter || 0);
    if (left > 0) {
      button.disabled = true;
      button.textContent = `Retry in ${left} s`;
      const timer = setInterval(() => {
        left -= 1;
        button.textContent = left > 0 ? `Retry in ${left} s` : "Retry";
        if (left <= 0) {
          button.disabled = false;
          clearInterval(timer);
        }
      }, 1000);
    }
    box.append(el("div", { class: "kit-actions" }, button));
  }
  return box;
}

/** A definition list of [label, value] pairs (null pairs and null values skipped). */
export function facts(pairs, className = "kit-facts") {
  return el("dl", { class: className }, pairs.filter((pair) => pair && pair[1] !== null && pair[1] !== undefined).flatMap(([label, value]) => [el("dt", {}, label), el("dd", {}, value)]));
}

/** Calls fn, waiting out a 503 (or a lost connection) up to `attempts` times as Retry-After asks. */
export async function patiently(fn, attempts = 3) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await fn();
    } catch (error) {
      const transient = error instanceof ApiError && (error.status === 503 || error.status === 0);
      if (!transient || attempt >= attempts) throw error;
      await sleep(1000 * Math.min(error.retryAfter || 2, 10));
    }
  }
}

export const homeLink = (text = "Back to the booking page") => el("a", { class: "kit-button kit-button-secondary", href: "../../#book" }, text);
