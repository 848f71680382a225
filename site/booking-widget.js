/*
 * <booking-widget api="https://api.example.com"></booking-widget>
 * <script type="module" src="https://book.example.com/booking-widget.js"></script>
 *
 * The booking widget: service -> a week of free times in the client's time zone -> deposit or full payment and the
 * client's details -> Stripe's Payment Element -> the verify page. No framework, no build step; it renders in the
 * light DOM (Stripe Elements do not work inside a Shadow DOM) with `bw-` class names and injects its own <style> once.
 *
 * Attributes:
 *   api          the API base URL; when absent, site-config.json next to this file says it ({"api": "..."})
 *                (on another origin than the kit, set it: the kit's host then only needs to serve the modules
 *                with Access-Control-Allow-Origin, as any cross-origin module script does)
 *   verify-url   the verify page (default: book/verify/ next to this file); Stripe returns there after a redirect
 *   rebook-token, service   rebook mode (the verify page uses it): a booking whose slot was lost picks another time
 *                of the same service on the same payment (POST /bookings/rebook with the booking token)
 *   manage-token, service   reschedule mode (the manage page uses it): the client's own booking moves to another
 *                time of its service (POST /bookings/manage/reschedule); `move-note` says what moving costs
 *   package-id, package-secret   book with a package's credit (the package page sets them): the "Use a package"
 *                option starts checked and filled in, and only the services the package covers are listed
 *   role-token   the client's sign-in token from the business's own site (a JWT it signs; README, Roles): set it
 *                after the site's sign-in, remove it at sign-out (changes apply at once). It is sent as
 *                create-intent's `role_token`; the API verifies it and prices the booking for the role (e.g.
 *                "Resident artist: free"), and the widget shows that price before any payment. A token the API
 *                refuses is said so, and the client may go on at the public price (event `bw-role-refused`).
 *
 * Groups, waitlists and series come from the service's data in GET /config: a service with `party_limit` > 1 asks
 * how many people come (up to the seats left at the time chosen; the price per seat, a group rate when the party
 * is large enough; the others' names optional); a full time of a `waitlist` service offers its waitlist (POST
 * /waitlist: the place in line, then an email with a link to pay when seats free up); a service with `recurrence`
 * offers "Repeat" (weekly or every N weeks, a number of sessions), previews which dates are free (GET
 * /availability/series) and books the free ones with one payment.
 *
 * Theming: set these custom properties on booking-widget (or any ancestor):
 *   --bw-accent      buttons, selected choices, focus ring         (default #4a32c9)
 *   --bw-accent-fg   text on the accent colour                      (default #fff)
 *   --bw-bg          the widget's background                        (default #fff)
 *   --bw-fg          text                                           (default #1c1b22)
 *   --bw-muted       secondary text (keep 4.5:1 against --bw-bg)    (default #55536a)
 *   --bw-surface     panels and slot buttons                        (default #f5f4fa)
 *   --bw-border      borders                                        (default #cfcddb)
 *   --bw-error       errors                                         (default #b0201a)
 *   --bw-success     a promo code that applies                      (default #17643a)
 *   --bw-radius      corner radius                                  (default 10px)
 *   --bw-font        font family                                    (default system-ui stack)
 *   --bw-max-width   the widget's maximum width                     (default 760px)
 * Stripe's Payment Element takes the accent, font and radius through its `appearance` option.
 *
 * Events (bubbling, on the element): `bw-payment-confirmed` {detail: {booking_id, payment_intent_id}} once Stripe
 * has the payment, before the redirect to the verify page; `bw-booked` {detail: {booking_id}} when nothing was due
 * (a free service, a 100% promo code, a package credit), before the redirect; in rebook mode `bw-rebooked`
 * {detail: the API's answer, or null when the booking was moved already}; in reschedule mode `bw-rescheduled`
 * {detail: the manage view at the new time}; `bw-waitlisted` {detail: POST /waitlist's answer} once the client is
 * in line; `bw-role-refused` {detail: {reason}} when the API refused the role-token (the site may sign in again).
 */

// A relative import resolves against this module's own URL (import.meta.url), so the widget works from any origin.
import {
  ApiError,
  addDays,
  apiBase,
  apiRequest,
  clientTimeZone,
  countOf,
  el,
  formatDateTime,
  formatDay,
  formatMoney,
  formatTime,
  getConfig,
  isFree,
  loadStripe,
  pricesOf,
  sleep,
  uuid,
  zoneLabel,
} from "./kit.js";

const STYLE_ID = "bw-style";
const STYLE = `
/* Defaults at zero specificity on the root: a value the page sets on booking-widget or any ancestor wins. */
:where(:root) {
  --bw-accent: #4a32c9; --bw-accent-fg: #fff; --bw-bg: #fff; --bw-fg: #1c1b22; --bw-muted: #55536a;
  --bw-surface: #f5f4fa; --bw-border: #cfcddb; --bw-error: #b0201a; --bw-success: #17643a; --bw-radius: 10px; --bw-max-width: 760px;
  --bw-font: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
booking-widget { display: block; max-width: var(--bw-max-width); margin-inline: auto; }
.bw { font-family: var(--bw-font); color: var(--bw-fg); background: var(--bw-bg); border: 1px solid var(--bw-border);
  border-radius: var(--bw-radius); padding: clamp(14px, 4vw, 28px); line-height: 1.45; font-size: 1rem; box-sizing: border-box; }
.bw *, .bw *::before, .bw *::after { box-sizing: inherit; }
.bw [hidden] { display: none !important; }
.bw-title { font-size: 1.35rem; margin: 0 0 2px; }
.bw-sub { margin: 0 0 16px; color: var(--bw-muted); }
.bw-step-title { font-size: 1.1rem; margin: 0 0 12px; }
.bw-step-title:focus { outline: none; }
.bw-step-title:focus-visible { outline: 3px solid var(--bw-accent); outline-offset: 3px; }
.bw-sr { position: absolute !important; width: 1px; height: 1px; margin: -1px; padding: 0; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0; }
.bw-muted { color: var(--bw-muted); }
:where(.bw) :where(button, input) { font-family: inherit; font-size: inherit; line-height: 1.25; }
.bw-btn { display: inline-flex; align-items: center; justify-content: center; gap: 6px; min-height: 44px; padding: 8px 18px;
  border-radius: var(--bw-radius); border: 2px solid var(--bw-accent); background: var(--bw-accent); color: var(--bw-accent-fg);
  font-weight: 600; cursor: pointer; }
.bw-btn-secondary { background: transparent; color: var(--bw-accent); }
.bw-btn-link { border-color: transparent; background: transparent; color: var(--bw-accent); padding-inline: 6px; text-decoration: underline; }
.bw-btn[disabled], .bw-btn[aria-disabled="true"] { opacity: .55; cursor: not-allowed; }
.bw :focus-visible { outline: 3px solid var(--bw-accent); outline-offset: 2px; }
.bw-actions { display: flex; flex-wrap: wrap; gap: 10px; align-items: center; margin-top: 18px; }
.bw-services { list-style: none; margin: 0; padding: 0; display: grid; gap: 10px; }
.bw-service { width: 100%; text-align: left; display: grid; grid-template-columns: 1fr auto; gap: 4px 12px; padding: 14px 16px;
  border: 1px solid var(--bw-border); border-radius: var(--bw-radius); background: var(--bw-surface); color: var(--bw-fg); cursor: pointer; }
.bw-service:hover { border-color: var(--bw-accent); }
.bw-service-name { font-weight: 650; }
.bw-service-price { font-weight: 650; text-align: right; }
.bw-service-meta { grid-column: 1 / -1; color: var(--bw-muted); font-size: .93rem; }
.bw-summary { display: flex; flex-wrap: wrap; gap: 4px 12px; align-items: baseline; justify-content: space-between;
  padding: 10px 14px; margin-bottom: 14px; background: var(--bw-surface); border-radius: var(--bw-radius); }
.bw-summary p { margin: 0; }
.bw-week-nav { display: grid; grid-template-columns: auto 1fr auto; grid-template-areas: "prev label next"; align-items: center; gap: 8px; margin-bottom: 6px; }
.bw-week-label { grid-area: label; font-weight: 650; text-align: center; margin: 0; }
.bw-prev { grid-area: prev; }
.bw-week-nav .bw-btn { padding-inline: 12px; }
.bw-next { grid-area: next; }
.bw-zone { margin: 0 0 12px; color: var(--bw-muted); font-size: .93rem; }
.bw-days { display: grid; grid-template-columns: repeat(auto-fill, minmax(82px, 1fr)); gap: 8px; align-items: start; }
.bw-day { border: 1px solid var(--bw-border); border-radius: var(--bw-radius); padding: 8px 4px; min-width: 0; }
.bw-day-name { font-size: .93rem; font-weight: 650; margin: 0 0 6px; text-align: center; line-height: 1.25; }
.bw-day-name span { display: block; }
.bw-day-name span + span { font-weight: 500; color: var(--bw-muted); }
.bw-slots { list-style: none; margin: 0; padding: 0; display: grid; gap: 6px; }
.bw-slot { width: 100%; min-height: 40px; padding: 6px 2px; font-size: .875rem; white-space: nowrap; border: 1px solid var(--bw-accent); border-radius: calc(var(--bw-radius) * .7);
  background: var(--bw-bg); color: var(--bw-accent); font-weight: 600; cursor: pointer; }
.bw-slot:hover { background: var(--bw-accent); color: var(--bw-accent-fg); }
.bw-none { margin: 0; color: var(--bw-muted); font-size: .9rem; text-align: center; }
.bw-notice { margin: 0 0 14px; padding: 10px 14px; border-radius: var(--bw-radius); border: 1px solid var(--bw-border); background: var(--bw-surface); }
.bw-notice[data-kind="error"] { border-color: var(--bw-error); color: var(--bw-error); background: var(--bw-bg); }
.bw-notice p { margin: 0; }
.bw-notice .bw-actions { margin-top: 8px; }
.bw-fieldset { border: 0; margin: 0 0 16px; padding: 0; min-width: 0; }
.bw-legend { font-weight: 650; margin-bottom: 8px; padding: 0; }
.bw-options { display: grid; gap: 8px; }
.bw-option { display: flex; gap: 10px; align-items: flex-start; padding: 12px 14px; border: 1px solid var(--bw-border);
  border-radius: var(--bw-radius); cursor: pointer; }
.bw-option:has(input:checked) { border: 2px solid var(--bw-accent); padding: 11px 13px; }
.bw-option input { margin-top: 4px; accent-color: var(--bw-accent); width: 18px; height: 18px; flex: none; }
.bw-option strong { display: block; }
.bw-field { display: grid; gap: 4px; margin-bottom: 14px; }
.bw-field label { font-weight: 600; }
.bw-field input { width: 100%; min-height: 44px; padding: 8px 12px; border: 1px solid #767485; border-radius: calc(var(--bw-radius) * .7);
  background: var(--bw-bg); color: var(--bw-fg); }
.bw-field input[aria-invalid="true"] { border: 2px solid var(--bw-error); }
.bw-hint { color: var(--bw-muted); font-size: .9rem; margin: 0; }
.bw-field-error { color: var(--bw-error); font-size: .93rem; margin: 0; font-weight: 600; }
.bw-pay-element { min-height: 120px; margin: 8px 0 4px; }
.bw-pay-error { color: var(--bw-error); font-weight: 600; margin: 8px 0 0; }
.bw-amounts { display: grid; grid-template-columns: 1fr auto; gap: 2px 16px; margin: 0 0 14px; }
.bw-amounts dt { color: var(--bw-muted); }
.bw-amounts dd { margin: 0; text-align: right; font-weight: 650; }
.bw-loading { color: var(--bw-muted); }
.bw-slot[disabled] { border-style: dashed; color: var(--bw-muted); background: var(--bw-surface); cursor: not-allowed; }
.bw-options-row { grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); }
.bw-inline { display: flex; gap: 8px; align-items: stretch; }
.bw-inline input { flex: 1 1 auto; min-width: 0; }
.bw-inline .bw-btn { flex: none; min-height: 44px; }
.bw-result { margin: 0; font-size: .93rem; }
.bw-result[data-kind="ok"] { color: var(--bw-success); font-weight: 600; }
.bw-result[data-kind="error"] { color: var(--bw-error); font-weight: 600; }
.bw-extras { border-top: 1px solid var(--bw-border); padding-top: 14px; margin-bottom: 16px; display: grid; gap: 12px; }
.bw-extras .bw-field { margin-bottom: 0; }
.bw-check { display: flex; gap: 10px; align-items: center; font-weight: 600; cursor: pointer; min-height: 44px; }
.bw-check input { width: 18px; height: 18px; margin: 0; accent-color: var(--bw-accent); flex: none; }
.bw-backup { display: flex; flex-wrap: wrap; gap: 4px 12px; align-items: center; justify-content: space-between; }
.bw-backup p { margin: 0; }
.bw-package-fields { display: grid; gap: 12px; padding-left: 28px; }
.bw-nothing-due { margin: 0 0 16px; padding: 10px 14px; border-radius: var(--bw-radius); background: var(--bw-surface); font-weight: 600; }
.bw[aria-busy="true"] .bw-body { opacity: .75; }
.bw-slot .bw-seats { display: block; font-size: .75rem; font-weight: 500; white-space: normal; line-height: 1.2; margin-top: 1px; }
.bw-slot-full { border-style: dashed; background: var(--bw-surface); color: var(--bw-fg); }
.bw-slot-full .bw-seats { color: var(--bw-muted); font-weight: 600; }
.bw-slot-full:hover .bw-seats { color: inherit; }
.bw-party, .bw-repeat { border-top: 1px solid var(--bw-border); padding-top: 14px; margin-bottom: 16px; display: grid; gap: 10px; }
.bw-party .bw-field, .bw-repeat .bw-field { margin-bottom: 0; }
.bw-field input[type="number"] { max-width: 8em; }
.bw-price { margin: 0 0 14px; padding: 10px 14px; border-radius: var(--bw-radius); background: var(--bw-surface); font-weight: 600; }
.bw-price .bw-muted { font-weight: 500; }
.bw-members { display: grid; gap: 12px; }
.bw-member { border: 1px solid var(--bw-border); border-radius: var(--bw-radius); padding: 10px 12px; margin: 0; min-width: 0; display: grid; gap: 8px 12px; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); }
.bw-member legend { font-weight: 650; padding: 0 4px; }
.bw-member .bw-field { margin-bottom: 0; }
.bw-disclosure { justify-self: start; justify-content: flex-start; text-align: left; padding-inline: 0; text-decoration: none; }
.bw-disclosure-text { text-decoration: underline; }
.bw-disclosure-icon { flex: none; width: 1.1em; text-align: center; }
.bw-series-dates { list-style: none; margin: 0; padding: 0; display: grid; gap: 6px; }
.bw-series-dates li { display: flex; flex-wrap: wrap; justify-content: space-between; gap: 2px 12px; padding: 8px 12px; border: 1px solid var(--bw-border); border-radius: calc(var(--bw-radius) * .7); }
.bw-series-dates li[data-free="false"] { border-style: dashed; color: var(--bw-muted); }
.bw-series-dates li[data-free="false"] .bw-date { text-decoration: line-through; }
.bw-free-tag { font-weight: 650; color: var(--bw-success); }
.bw-series-dates li[data-free="false"] .bw-free-tag { color: var(--bw-error); }
.bw-role-note { margin: 0 0 16px; padding: 10px 14px; border-radius: var(--bw-radius); border: 1px solid var(--bw-border); }
.bw-role-note p { margin: 0; }
.bw-position { font-size: 1.15rem; font-weight: 650; margin: 0 0 8px; }
.bw-occurrences { margin: 0 0 14px; padding-left: 1.2em; }
@media (max-width: 480px) {
  .bw-days { grid-template-columns: 1fr 1fr; }
  .bw-week-nav { grid-template-columns: 1fr 1fr; grid-template-areas: "label label" "prev next"; }
  .bw-actions .bw-btn { flex: 1 1 auto; }
}
`;

function injectStyle() {
  if (document.getElementById(STYLE_ID)) return;
  const style = document.createElement("style");
  style.id = STYLE_ID;
  style.textContent = STYLE;
  document.head.prepend(style); // first, so the page's own rules win
}

let widgetCount = 0;
const credits = (n) => countOf(n, "credit");

/** A role id as people read it: "resident_artist" -> "Resident artist". */
const roleLabel = (role) => {
  const words = String(role).replace(/[_-]+/g, " ").trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
};

/** pricing.deposit_amount: a percent of a total, rounded half up to a whole minor unit (the API's rounding). */
const depositOf = (total, percent) => Math.floor((total * percent + 50) / 100);

class BookingWidget extends HTMLElement {
  static get observedAttributes() {
    return ["role-token"];
  }

  /** The site signed the client in or out: the next hold uses the new token; the details step says so now. */
  attributeChangedCallback(name, before, after) {
    if (name !== "role-token" || before === after || !this.started) return;
    this.attempt = null;
    if (this.roleNoteBox && this.roleNoteBox.isConnected) {
      this.roleNoteBox.replaceChildren(this.roleNote() || "");
      this.roleNoteBox.hidden = !this.roleToken;
      this.showOptions();
    }
  }

  /** The site's sign-in token, unless the API refused this very token (the client then goes on at the public price). */
  get roleToken() {
    const token = this.getAttribute("role-token");
    return token && token !== this.roleRefused ? token : null;
  }

  connectedCallback() {
    if (this.started) return;
    this.started = true;
    this.uid = `bw${++widgetCount}`;
    this.timeZone = clientTimeZone();
    this.paymentType = "deposit";
    this.attendee = { name: "", email: "", phone: "" };
    this.textReminder = false; // "Text me a reminder" (create-intent notify.sms)
    this.attempt = null; // {body, key, start}: one create-intent attempt and its Idempotency-Key
    this.currency = null; // null: the service's default price
    this.promo = null; // {code, answer}: the code the client applied and GET /promo's answer for it
    this.backupSlot = null;
    this.pkg = { id: this.getAttribute("package-id") || "", secret: this.getAttribute("package-secret") || "" };
    this.usePackage = Boolean(this.pkg.id);
    this.pkgInfo = null; // GET /packages/{id}: its name, services and credits, when the page gave the package
    this.participants = 1; // seats for a group service (create-intent `participants`)
    this.members = []; // the others of the party: [{name, email}] by row (optional)
    this.repeat = null; // {every_weeks, count} while "Repeat" is chosen (create-intent `recurrence`)
    this.seriesPreview = null; // GET /availability/series for this.repeat
    this.roleRefused = null; // the role-token the API refused
    injectStyle();
    this.status = el("div", { class: "bw-sr", role: "status", "aria-live": "polite" });
    this.notice = el("div", { class: "bw-notice-slot" });
    this.body = el("div", { class: "bw-body" });
    this.titleEl = el("h2", { class: "bw-title", id: `${this.uid}-title` }, "Book an appointment");
    this.subEl = el("p", { class: "bw-sub" }, "Loading…");
    this.root = el("section", { class: "bw", "aria-labelledby": `${this.uid}-title` }, this.titleEl, this.subEl, this.status, this.notice, this.body);
    this.replaceChildren(this.root);
    this.start();
  }

  disconnectedCallback() {
    clearTimeout(this.holdTimer);
    clearInterval(this.retryTimer);
  }

  // ---- plumbing ----------------------------------------------------------------------------------------------

  async start() {
    this.clearNotice();
    try {
      this.api = await apiBase(this.getAttribute("api"));
      this.config = await getConfig(this.api);
    } catch (error) {
      this.subEl.textContent = "";
      this.showError(error, () => this.start());
      return;
    }
    const business = this.config.business || {};
    this.subEl.textContent = business.name ? `with ${business.name}` : "";
    this.rebookToken = this.getAttribute("rebook-token");
    this.manageToken = this.rebookToken ? null : this.getAttribute("manage-token");
    this.moving = Boolean(this.rebookToken || this.manageToken); // an existing booking picks another time
    if (this.moving) {
      this.service = (this.config.services || []).find((s) => s.id === this.getAttribute("service"));
      this.titleEl.textContent = this.manageToken ? "Pick a new time" : "Pick another time";
      this.subEl.hidden = true;
      if (this.service) {
        this.openSlots(null);
        return;
      }
      this.showNotice("We could not tell which service this booking is for. Please contact us to pick another time.", { kind: "error" });
      return;
    }
    if (this.usePackage && this.pkg.secret) await this.loadPackage();
    this.renderServices(false);
  }

  /** The package the page gave (its services and credits left); without it the widget still books with it. */
  async loadPackage() {
    try {
      this.pkgInfo = await this.call(`/packages/${encodeURIComponent(this.pkg.id)}`, { headers: { "X-Package-Secret": this.pkg.secret } });
    } catch {
      this.pkgInfo = null; // create-intent says precisely what is wrong with the package, beside its fields
    }
  }

  get verifyPage() {
    return new URL(this.getAttribute("verify-url") || "book/verify/", import.meta.url);
  }

  call(path, options) {
    return apiRequest(this.api, path, options);
  }

  announce(text) {
    // Cleared first so the same words are announced again.
    this.status.textContent = "";
    setTimeout(() => (this.status.textContent = text), 50);
  }

  /** Runs fn once at a time: the widget is busy, the clicked button disabled, a second click ignored. */
  async busy(button, fn) {
    if (this.running) return;
    this.running = true;
    this.root.setAttribute("aria-busy", "true");
    const label = button && button.dataset.busyLabel;
    const before = button && button.textContent;
    if (button) {
      button.disabled = true;
      if (label) button.textContent = label;
    }
    try {
      await fn();
    } finally {
      this.running = false;
      this.root.removeAttribute("aria-busy");
      if (button && button.isConnected) {
        button.disabled = false;
        if (label) button.textContent = before;
      }
    }
  }

  clearNotice() {
    clearInterval(this.retryTimer);
    this.notice.replaceChildren();
  }

  showNotice(message, { kind = "info", retry, retryAfter, actions = [] } = {}) {
    this.clearNotice();
    const box = el("div", { class: "bw-notice", "data-kind": kind, role: kind === "error" ? "alert" : "status" }, el("p", {}, message));
    const buttons = [...actions];
    if (retry) {
      const retryButton = el("button", { type: "button", class: "bw-btn bw-btn-secondary bw-retry" }, "Retry");
      retryButton.addEventListener("click", () => this.busy(retryButton, async () => {
        this.clearNotice();
        await retry();
      }));
      buttons.unshift(retryButton);
      // Honour Retry-After: the button waits as long as the API asked.
      let left = Math.ceil(retryAfter || 0);
      if (left > 0) {
        retryButton.disabled = true;
        retryButton.textContent = `Retry in ${left} s`;
        this.retryTimer = setInterval(() => {
          left -= 1;
          retryButton.textContent = left > 0 ? `Retry in ${left} s` : "Retry";
          if (left <= 0) {
            retryButton.disabled = false;
            clearInterval(this.retryTimer);
          }
        }, 1000);
      }
    }
    if (buttons.length) box.append(el("div", { class: "bw-actions" }, buttons));
    this.notice.append(box);
    if (kind === "error") box.scrollIntoView({ block: "nearest" }); // the client may be at the foot of a long form
    return box;
  }

  showError(error, retry) {
    const transient = !(error instanceof ApiError) || error.status === 0 || error.status >= 500;
    const message = error instanceof ApiError ? error.message : error.message || "Something went wrong.";
    return this.showNotice(message, { kind: "error", retry: transient ? retry : undefined, retryAfter: error.retryAfter });
  }

  /** Replaces the step shown and, once the client is using the widget, moves focus to its heading. */
  showStep(title, ...content) {
    const heading = el("h3", { class: "bw-step-title", tabindex: "-1" }, title);
    this.body.replaceChildren(heading, ...content.flat().filter(Boolean));
    if (this.interacted) heading.focus({ preventScroll: false });
    this.interacted = true;
    return heading;
  }

  // ---- 1. service ------------------------------------------------------------------------------------------------

  renderServices(focus = true) {
    this.interacted = focus;
    const covered = this.usePackage && this.pkgInfo && this.pkgInfo.services;
    const services = (this.config.services || []).filter((s) => !covered || covered.includes(s.id));
    const list = el("ul", { class: "bw-services" });
    for (const service of services) {
      const deposit = service.payment_types && service.payment_types.includes("deposit");
      const others = pricesOf(service).slice(1).map((p) => p.currency.toUpperCase());
      const meta = [
        `${service.duration_minutes} min`,
        isFree(service) ? "no payment needed" : covered ? "one package credit" : deposit ? `${this.moneyOf(service.deposit)} deposit to book` : "paid in full to book",
        others.length && !covered ? `also in ${others.join(", ")}` : null,
        service.party_limit > 1 ? `groups up to ${service.party_limit}` : null,
        ...(covered ? [] : (service.group_rates || []).map((rate) => `${this.moneyOf(rate.seat_prices[0])} a person from ${rate.min_participants}`)),
        service.recurrence ? "weekly series" : null,
      ];
      const button = el(
        "button",
        { type: "button", class: "bw-service", "data-service": service.id },
        el("span", { class: "bw-service-name" }, service.name),
        el("span", { class: "bw-service-price" }, isFree(service) ? "Free" : `${this.moneyOf(service.price)}${service.capacity > 1 ? " a person" : ""}`),
        el("span", { class: "bw-service-meta" }, meta.filter(Boolean).join(" · ")),
      );
      button.addEventListener("click", () => this.chooseService(service));
      list.append(el("li", {}, button));
    }
    const intro = covered
      ? el("p", { class: "bw-muted bw-package-intro" }, `Booking with your package “${this.pkgInfo.name}”: ${credits(this.pkgInfo.credits_remaining)} left.`)
      : null;
    this.showStep("Choose a service", intro, services.length ? list : el("p", {}, "No services can be booked right now."));
  }

  moneyOf(price) {
    return formatMoney(price.amount, price.currency);
  }

  chooseService(service) {
    this.clearNotice();
    if (this.service !== service) {
      this.promo = null;
      this.currency = null;
      this.backupSlot = null;
      this.participants = 1;
      this.members = [];
      this.membersOpen = false;
      this.repeat = null;
      this.seriesPreview = null;
    }
    this.service = service;
    this.paymentType = (service.payment_types || ["deposit"]).includes("deposit") ? "deposit" : "full";
    this.weekStart = null;
    this.minDate = null;
    this.endOfWindow = null;
    this.openSlots(null);
  }

  // ---- 2. a week of slots ------------------------------------------------------------------------------------------

  async openSlots(weekStart) {
    const loading = el("p", { class: "bw-loading" }, "Loading free times…");
    const title = this.moving ? this.service.name : this.pickingBackup ? "Pick a backup time" : `Pick a time for ${this.service.name}`;
    this.showStep(title, this.serviceSummary(), loading);
    this.announce("Loading free times");
    await this.loadWeek(weekStart);
  }

  serviceSummary() {
    if (this.moving) return null; // the step's heading names the service
    if (this.pickingBackup) {
      const back = el("button", { type: "button", class: "bw-btn bw-btn-link", "data-action": "back-to-details" }, "Back to your details");
      back.addEventListener("click", () => {
        this.pickingBackup = false;
        this.renderDetails();
      });
      return el(
        "div",
        { class: "bw-summary" },
        el("p", {}, el("strong", {}, "Your time: "), this.slotText(), el("br"), el("span", { class: "bw-muted" }, "A backup time is where we move your booking if we have to close that day.")),
        back,
      );
    }
    const change = el("button", { type: "button", class: "bw-btn bw-btn-link", "data-action": "change-service" }, "Change service");
    change.addEventListener("click", () => {
      this.clearNotice();
      this.renderServices();
    });
    const each = this.service.capacity > 1 ? " a person" : "";
    return el("div", { class: "bw-summary" }, el("p", {}, el("strong", {}, this.service.name), ` · ${this.moneyOf(this.service.price)}${each}`), change);
  }

  async loadWeek(weekStart) {
    const params = new URLSearchParams({ service_id: this.service.id, days: "7", time_zone: this.timeZone });
    if (weekStart) params.set("start", weekStart);
    let week;
    try {
      week = await this.call(`/availability?${params}`);
    } catch (error) {
      if (error instanceof ApiError && error.status === 422 && error.details.reason === "beyond_booking_window") {
        this.endOfWindow = weekStart;
        this.showNotice("There are no bookable times that far ahead.");
        return this.loadWeek(this.weekStart);
      }
      this.renderWeek(null);
      this.showError(error, () => this.loadWeek(weekStart));
      return;
    }
    // The API's first day when no start is given is "today" in the client's zone by the server's clock.
    if (!this.minDate) this.minDate = week.days.length ? week.days[0].date : weekStart;
    this.weekStart = week.days.length ? week.days[0].date : weekStart;
    this.renderWeek(week);
  }

  renderWeek(week) {
    const heading = this.body.querySelector(".bw-step-title");
    const content = [this.serviceSummary()];
    const prev = el("button", { type: "button", class: "bw-btn bw-btn-secondary bw-prev" }, el("span", { "aria-hidden": "true" }, "‹"), " Previous week");
    const next = el("button", { type: "button", class: "bw-btn bw-btn-secondary bw-next" }, "Next week ", el("span", { "aria-hidden": "true" }, "›"));
    prev.disabled = !this.weekStart || !this.minDate || this.weekStart <= this.minDate;
    next.disabled = !this.weekStart || (this.endOfWindow && addDays(this.weekStart, 7) >= this.endOfWindow);
    prev.addEventListener("click", () => this.busy(prev, () => this.moveWeek(-7)));
    next.addEventListener("click", () => this.busy(next, () => this.moveWeek(7)));
    const label = this.weekStart
      ? `${formatDay(this.weekStart, { month: "short", day: "numeric" })} – ${formatDay(addDays(this.weekStart, 6), { month: "short", day: "numeric" })}`
      : "";
    content.push(
      el("div", { class: "bw-week-nav" }, prev, el("p", { class: "bw-week-label" }, label), next),
      el("p", { class: "bw-zone" }, `Times are shown in your time zone: ${zoneLabel(this.timeZone)}`),
    );
    if (week) {
      const days = el("div", { class: "bw-days" });
      let count = 0;
      let waitlisted = 0;
      for (const day of week.days) {
        const headingId = `${this.uid}-d${day.date}`;
        const longDay = formatDay(day.date, { weekday: "long", month: "long", day: "numeric" });
        const slots = el("ul", { class: "bw-slots" });
        let listed = 0;
        for (const slot of day.slots) {
          const full = slot.seats_left !== undefined && slot.seats_left < 1;
          // A full time offers its waitlist to a new booking; moving a booking or picking a backup needs free seats.
          if (full && (this.moving || this.pickingBackup || !slot.waitlist)) continue;
          if (this.pickingBackup && slot.seats_left < this.seats) continue; // the backup must seat the whole party
          listed += 1;
          if (!full) count += 1;
          else waitlisted += 1;
          const time = formatTime(slot.start, this.timeZone);
          // While picking a backup, the booking's own time is shown but cannot be its own backup.
          const own = this.pickingBackup && this.chosenSlot && slot.start === this.chosenSlot.start;
          const group = this.service.capacity > 1;
          const seats = full ? "Full: waitlist" : group ? `${countOf(slot.seats_left, "seat")} left` : null;
          // The accessible name holds the visible text as it reads ("9:00 AM 12 seats left"), the day before it.
          const label = `${longDay}, ${seats ? `${time} ${seats}` : time}${own ? ", your chosen time" : ""}`;
          const button = el(
            "button",
            { type: "button", class: full ? "bw-slot bw-slot-full" : "bw-slot", "data-start": slot.start, "data-seats-left": slot.seats_left, "aria-label": label, disabled: own },
            time,
            seats ? [" ", el("span", { class: "bw-seats" }, seats)] : null,
          );
          button.addEventListener("click", () => this.chooseSlot(slot));
          slots.append(el("li", {}, button));
        }
        days.append(
          el(
            "div",
            { class: "bw-day", role: "group", "aria-labelledby": headingId, "data-date": day.date },
            el("h4", { class: "bw-day-name", id: headingId }, el("span", {}, formatDay(day.date, { weekday: "short" })), " ", el("span", {}, formatDay(day.date, { month: "short", day: "numeric" }))),
            listed ? slots : el("p", { class: "bw-none" }, "No times"),
          ),
        );
      }
      content.push(days);
      if (!count) content.push(el("p", { class: "bw-muted" }, waitlisted ? "No free times this week: join a full time's waitlist or try the next week." : "No free times this week. Try the next week."));
      this.announce(`${count} free times from ${label}${waitlisted ? `, ${waitlisted} full with a waitlist` : ""}`);
    }
    this.body.replaceChildren(heading, ...content.filter(Boolean));
  }

  async moveWeek(days) {
    const target = addDays(this.weekStart, days);
    await this.loadWeek(this.minDate && target < this.minDate ? this.minDate : target);
    const button = this.body.querySelector(days < 0 ? ".bw-prev" : ".bw-next");
    (button && !button.disabled ? button : this.body.querySelector(".bw-step-title")).focus();
  }

  chooseSlot(slot) {
    this.clearNotice();
    if (this.pickingBackup) {
      this.pickingBackup = false;
      this.backupSlot = slot;
      this.renderDetails();
      this.announce(`Backup time: ${this.slotText(slot)}`);
      return;
    }
    this.chosenSlot = slot;
    if (this.backupSlot && this.backupSlot.start === slot.start) this.backupSlot = null;
    if (this.moving) this.renderRebook();
    else if (slot.waitlist && slot.seats_left < 1) this.renderWaitlist();
    else {
      this.seriesPreview = null; // its dates follow the first one
      this.renderDetails();
    }
  }

  // ---- rebook mode: another time on the same payment -----------------------------------------------------------

  renderRebook() {
    const change = el("button", { type: "button", class: "bw-btn bw-btn-secondary", "data-action": "change-time" }, "Change time");
    change.addEventListener("click", () => {
      this.clearNotice();
      this.openSlots(this.weekStart);
    });
    const move = el("button", { type: "button", class: "bw-btn bw-rebook", "data-busy-label": "Moving your booking…" }, "Move my booking here");
    move.addEventListener("click", () => this.busy(move, () => this.rebook()));
    const note = this.manageToken ? this.getAttribute("move-note") || "Your payment moves with it." : "Your payment moves with it: nothing more is charged.";
    this.showStep(
      "Move your booking",
      el("div", { class: "bw-summary" }, el("p", {}, el("strong", {}, this.service.name), el("br"), this.slotText())),
      el("p", { class: "bw-move-note" }, note),
      el("div", { class: "bw-actions" }, move, change),
    );
  }

  async rebook() {
    this.clearNotice();
    const [path, token, done] = this.manageToken
      ? ["/bookings/manage/reschedule", this.manageToken, "bw-rescheduled"]
      : ["/bookings/rebook", this.rebookToken, "bw-rebooked"];
    let moved;
    try {
      moved = await this.call(path, { body: { token, start: this.chosenSlot.start } });
    } catch (error) {
      if (error instanceof ApiError && error.code === "already_rebooked") {
        this.dispatchEvent(new CustomEvent("bw-rebooked", { bubbles: true, detail: null }));
        return;
      }
      if (error instanceof ApiError && (error.code === "slot_taken" || error.code === "slot_not_offered")) {
        await this.openSlots(this.weekStart);
        this.showNotice(error.message, { kind: "error" });
        return;
      }
      this.showError(error, () => this.rebook());
      return;
    }
    this.dispatchEvent(new CustomEvent(done, { bubbles: true, detail: moved }));
  }

  // ---- a full time: its waitlist -------------------------------------------------------------------------------

  renderWaitlist() {
    const service = this.service;
    const change = el("button", { type: "button", class: "bw-btn bw-btn-link", "data-action": "change-time" }, "Change time");
    change.addEventListener("click", () => {
      this.clearNotice();
      this.openSlots(this.weekStart);
    });
    const summary = el("div", { class: "bw-summary" }, el("p", {}, el("strong", {}, service.name), el("br"), this.slotText(), el("br"), el("span", { class: "bw-muted" }, "This time is full.")), change);
    const minutes = (this.config.booking && this.config.booking.hold_minutes) || 15;
    const intro = el(
      "p",
      { class: "bw-waitlist-intro" },
      `Join its waitlist: if ${service.party_limit > 1 ? "seats free up for your party" : "it frees up"}, we hold ${service.party_limit > 1 ? "them" : "it"} for you for ${minutes} minutes and email you a link to pay. Nothing is paid now.`,
    );
    const limit = service.party_limit || 1;
    if (this.participants > limit) this.participants = limit;
    const people =
      limit > 1
        ? this.field("participants", "People", {
            type: "number",
            value: String(this.participants),
            attrs: { min: 1, max: limit, step: 1, inputmode: "numeric" },
            hint: `You included; up to ${limit}.`,
            onInput: (value) => {
              const n = Number(value);
              const ok = Number.isInteger(n) && n >= 1 && n <= limit;
              this.setFieldError(people, ok || value === "" ? null : `Please enter a number of people from 1 to ${limit}.`);
              if (ok) this.participants = n;
            },
          })
        : null;
    const submit = el("button", { type: "submit", class: "bw-btn bw-join-waitlist", "data-busy-label": "Joining…" }, "Join the waitlist");
    const phoneRequired = Boolean(service.requires_phone);
    const form = el(
      "form",
      { class: "bw-form bw-waitlist-form", novalidate: true },
      people ? el("div", { class: "bw-party" }, people) : null,
      el(
        "fieldset",
        { class: "bw-fieldset" },
        el("legend", { class: "bw-legend" }, "Your details"),
        this.field("name", "Full name", { autocomplete: "name", required: true }),
        this.field("email", "Email", { type: "email", autocomplete: "email", required: true, hint: "The link to pay comes here when seats free up." }),
        this.field("phone", phoneRequired ? "Phone" : "Phone (optional)", { type: "tel", autocomplete: "tel", required: phoneRequired, hint: "With country code, e.g. +14155550100." }),
      ),
      el("div", { class: "bw-actions" }, submit),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.busy(submit, () => this.joinWaitlist(form));
    });
    this.showStep("Join the waitlist", summary, intro, form);
  }

  async joinWaitlist(form) {
    this.clearNotice();
    for (const input of form.querySelectorAll('.bw-field[data-field="name"] input, .bw-field[data-field="email"] input, .bw-field[data-field="phone"] input')) {
      this.attendee[input.name] = input.value.trim();
    }
    const problems = this.localProblems();
    const people = form.querySelector('.bw-field[data-field="participants"] input');
    const limit = this.service.party_limit || 1;
    if (people && !(Number.isInteger(Number(people.value)) && Number(people.value) >= 1 && Number(people.value) <= limit)) {
      problems.unshift({ field: "participants", message: `Please enter a number of people from 1 to ${limit}.` });
    }
    if (this.showFieldErrors(form, problems)) {
      this.announce(`Please correct ${problems.length === 1 ? "1 field" : `${problems.length} fields`}.`);
      return;
    }
    const attendee = { name: this.attendee.name, email: this.attendee.email, time_zone: this.timeZone };
    if (this.attendee.phone) attendee.phone = this.attendee.phone;
    const types = this.service.payment_types || ["full"];
    const body = { service_id: this.service.id, start: this.chosenSlot.start, attendee, participants: people ? Number(people.value) : 1, payment_type: types.includes("deposit") ? "deposit" : "full" };
    let answer;
    try {
      answer = await this.call("/waitlist", { body });
    } catch (error) {
      if (error instanceof ApiError && error.code === "slot_available") {
        // Seats freed up meanwhile: the time can be booked at once.
        this.chosenSlot = { ...this.chosenSlot, seats_left: error.details.seats_left || 1, waitlist: false };
        this.renderDetails();
        this.showNotice("Good news: seats are free for this time now, so you can book it straight away.");
        return;
      }
      if (error instanceof ApiError && error.status === 422 && error.fields.length && this.showFieldErrors(form, error.fields)) {
        this.announce(error.message);
        return;
      }
      this.showError(error, () => this.joinWaitlist(form));
      return;
    }
    this.dispatchEvent(new CustomEvent("bw-waitlisted", { bubbles: true, detail: answer }));
    this.renderWaitlisted(answer);
  }

  renderWaitlisted(answer) {
    const minutes = (this.config.booking && this.config.booking.hold_minutes) || 15;
    const summary = el("div", { class: "bw-summary" }, el("p", {}, el("strong", {}, this.service.name), el("br"), this.slotText()));
    const party = answer.participants > 1 ? ` for ${answer.participants} people` : "";
    const place = answer.position ? `You are number ${answer.position} in line${party}.` : "You are no longer waiting in this line: check your email for an offer.";
    const again = el("button", { type: "button", class: "bw-btn bw-btn-secondary", "data-action": "change-time" }, "Look at other times");
    again.addEventListener("click", () => this.openSlots(this.weekStart));
    // The secret to leave is given once, when joining: this page can leave the line for the client.
    const leave = answer.secret ? el("button", { type: "button", class: "bw-btn bw-btn-link bw-leave-waitlist", "data-busy-label": "Leaving…" }, "Leave the waitlist") : null;
    if (leave) leave.addEventListener("click", () => this.busy(leave, () => this.leaveWaitlist(answer)));
    this.showStep(
      "You are on the waitlist",
      summary,
      el("p", { class: "bw-position", "data-position": answer.position ?? "" }, place),
      answer.joined_now ? null : el("p", { class: "bw-muted" }, "You had joined this waitlist already: your place is kept."),
      el("p", { class: "bw-waitlist-next" }, `When ${answer.participants > 1 ? "seats free up for your party, we hold them" : "a seat frees up, we hold it"} for you for ${minutes} minutes and email ${this.attendee.email} a link to pay. If the time is not paid by then, it goes to the next person in line.`),
      el("div", { class: "bw-actions" }, again, leave),
    );
    this.announce(`You are on the waitlist. ${place}`);
  }

  async leaveWaitlist(answer) {
    this.clearNotice();
    try {
      await this.call(`/waitlist/${encodeURIComponent(answer.entry_id)}`, { method: "DELETE", headers: { "X-Waitlist-Secret": answer.secret } });
    } catch (error) {
      this.showError(error, () => this.leaveWaitlist(answer));
      return;
    }
    const again = el("button", { type: "button", class: "bw-btn", "data-action": "change-time" }, "Pick a time");
    again.addEventListener("click", () => this.openSlots(this.weekStart));
    this.showStep("You left the waitlist", el("p", { class: "bw-left-waitlist" }, `You are no longer waiting for ${this.slotText()}. Nothing was charged.`), el("div", { class: "bw-actions" }, again));
    this.announce("You left the waitlist.");
  }

  slotText(slot = this.chosenSlot) {
    return formatDateTime(slot.start, this.timeZone, undefined, { weekday: "long", month: "long", day: "numeric", hour: "numeric", minute: "2-digit" });
  }

  // ---- 3. options, payment choice and details ------------------------------------------------------------------

  /** The price in the chosen currency: {amount, currency, deposit?}. */
  get price() {
    const prices = pricesOf(this.service);
    return prices.find((p) => p.currency === this.currency) || prices[0];
  }

  /** The applied promo code when it applies to this service and currency. */
  get appliedPromo() {
    const answer = this.promo && this.promo.answer;
    return answer && answer.valid && answer.discounted_price && answer.discounted_price.currency === this.price.currency ? this.promo : null;
  }

  get packageCovers() {
    return this.usePackage && !isFree(this.service);
  }

  /** Seats the booking takes: the party's size for a group service, else 1. */
  get seats() {
    return this.service.party_limit > 1 ? this.participants : 1;
  }

  /** The most people this booking may bring: the service's party limit and the seats left at the time chosen. */
  get maxParty() {
    const left = this.chosenSlot ? this.chosenSlot.seats_left : undefined;
    return Math.max(1, Math.min(this.service.party_limit || 1, left > 0 ? left : Infinity));
  }

  /** The group rate this party's size earns in the chosen currency (the lowest seat price), or null. */
  get groupRate() {
    const currency = this.price.currency;
    let best = null;
    for (const rate of this.service.group_rates || []) {
      const seat = (rate.seat_prices || []).find((p) => p.currency === currency);
      if (seat && this.seats >= rate.min_participants && seat.amount < (best ? best.seat.amount : this.price.amount)) best = { ...rate, seat };
    }
    return best;
  }

  /** One seat's price for this party (the catalog's list price as the API computes it, before any role). */
  get seatAmount() {
    const rate = this.groupRate;
    return rate ? rate.seat.amount : this.price.amount;
  }

  /** A series while "Repeat" is chosen: {every_weeks, count}; its dates booked are the preview's free ones. */
  get occurrences() {
    if (!this.repeat) return 1;
    return this.seriesPreview ? this.seriesPreview.free : this.repeat.count;
  }

  /** The catalog has the series paid in full at booking (recurrence.payment "series"). */
  get seriesInFull() {
    return Boolean(this.repeat && this.service.recurrence && this.service.recurrence.payment === "series");
  }

  /** What one booking (one date) costs the client: nothing with a package credit, else the party's price less an
   * applied promo code (GET /promo prices one seat: a party's discount is the API's, shown at payment). */
  get total() {
    if (this.packageCovers) return 0;
    const promo = this.appliedPromo;
    if (promo && this.seats === 1 && !this.repeat) return promo.answer.discounted_price.amount;
    return this.seatAmount * this.seats;
  }

  renderDetails() {
    const service = this.service;
    const free = isFree(service);
    const change = el("button", { type: "button", class: "bw-btn bw-btn-link", "data-action": "change-time" }, "Change time");
    change.addEventListener("click", () => {
      this.clearNotice();
      this.openSlots(this.weekStart);
    });
    const summary = el("div", { class: "bw-summary" }, el("p", {}, el("strong", {}, service.name), el("br"), this.slotText()), change);

    const phoneRequired = Boolean(service.requires_phone);
    this.submitButton = el("button", { type: "submit", class: "bw-btn bw-continue" });
    this.paymentBox = el("div", { class: "bw-payment-box" });
    // One live region kept across changes: the party's and the series' price is announced as it changes.
    this.priceEl = el("p", { class: "bw-price", "aria-live": "polite", hidden: true });
    this.currencyBox = free ? null : this.currencyPart();
    this.promoBox = free ? null : this.promoPart();
    // A series takes no promo code, package or backup time (the API's rule): hidden while "Repeat" is chosen.
    this.extrasBox = el("div", { class: "bw-extras" }, this.backupPart(), free ? null : this.packagePart(), this.promoBox);
    this.roleNoteBox = el("div", { class: "bw-role-note", hidden: !this.roleToken }, this.roleNote() || "");
    const form = el(
      "form",
      { class: "bw-form", novalidate: true },
      this.partyPart(),
      this.repeatPart(),
      this.extrasBox,
      this.currencyBox,
      this.roleNoteBox,
      this.priceEl,
      this.paymentBox,
      el(
        "fieldset",
        { class: "bw-fieldset" },
        el("legend", { class: "bw-legend" }, "Your details"),
        this.field("name", "Full name", { autocomplete: "name", required: true }),
        this.field("email", "Email", { type: "email", autocomplete: "email", required: true, hint: "We send your confirmation here." }),
        this.field("phone", phoneRequired ? "Phone" : "Phone (optional)", {
          type: "tel",
          autocomplete: "tel",
          required: phoneRequired,
          hint: phoneRequired ? "We call you on it: with country code (E.164), e.g. +14155550100." : "With country code, e.g. +14155550100.",
          onInput: (phone) => {
            this.attendee.phone = phone;
            if (this.smsBox) this.smsBox.hidden = !phone;
          },
        }),
        this.smsPart(),
      ),
      el("div", { class: "bw-actions" }, this.submitButton),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.busy(this.submitButton, () => this.createIntent(form));
    });
    this.showOptions();
    this.showStep("Your booking", summary, form);
    if (this.repeat) this.loadSeriesPreview(0);
  }

  roleNote() {
    if (!this.roleToken) return null;
    return el("p", {}, el("strong", {}, "You are signed in. "), "The prices below are the public ones: your member price is applied when we hold your time, and shown before you pay anything.");
  }

  // ---- a party: how many people, their names (optional) --------------------------------------------------------

  partyPart() {
    this.membersBox = null;
    if (!(this.service.party_limit > 1)) return null;
    const max = this.maxParty;
    if (this.participants > max) this.participants = max;
    const people = this.field("participants", "People", {
      type: "number",
      value: String(this.participants),
      attrs: { min: 1, max, step: 1, inputmode: "numeric" },
      hint: `You included; up to ${max} for this time.`,
      onInput: (value) => this.setParticipants(value, people),
    });
    const membersId = `${this.uid}-members`;
    const icon = el("span", { class: "bw-disclosure-icon", "aria-hidden": "true" }, this.membersOpen ? "−" : "+");
    this.membersToggle = el(
      "button",
      { type: "button", class: "bw-btn bw-btn-link bw-disclosure", "aria-expanded": String(Boolean(this.membersOpen)), "aria-controls": membersId },
      icon,
      el("span", { class: "bw-disclosure-text" }, "Add the names of the others (optional)"),
    );
    this.membersBox = el("div", { class: "bw-members", id: membersId, hidden: !this.membersOpen });
    this.membersToggle.addEventListener("click", () => {
      this.membersOpen = !this.membersOpen;
      this.membersToggle.setAttribute("aria-expanded", String(this.membersOpen));
      icon.textContent = this.membersOpen ? "−" : "+";
      this.renderMembers();
      const first = this.membersOpen && this.membersBox.querySelector("input");
      if (first) first.focus();
    });
    const hint = el("p", { class: "bw-hint bw-members-hint" }, "With an email, each gets their own calendar invitation. You can also add them later from your booking's link.");
    this.membersPart = el("div", { class: "bw-members-part", hidden: this.participants < 2 }, this.membersToggle, hint, this.membersBox);
    this.renderMembers();
    return el("div", { class: "bw-party" }, people, this.membersPart);
  }

  renderMembers() {
    if (!this.membersBox) return;
    this.membersPart.hidden = this.seats < 2;
    this.membersBox.hidden = !this.membersOpen;
    if (!this.membersOpen) return;
    const rows = [];
    for (let i = 0; i < this.seats - 1; i += 1) {
      const member = this.members[i] || (this.members[i] = { name: "", email: "" });
      rows.push(
        el(
          "fieldset",
          { class: "bw-member", "data-member": i },
          el("legend", {}, `Person ${i + 2}`),
          this.field(`party.${i}.name`, "Name", { value: member.name, autocomplete: "off", onInput: (v) => (member.name = v) }),
          this.field(`party.${i}.email`, "Email (optional)", { type: "email", value: member.email, autocomplete: "off", onInput: (v) => (member.email = v) }),
        ),
      );
    }
    this.membersBox.replaceChildren(...rows);
  }

  setParticipants(value, box) {
    const max = this.maxParty;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > max) {
      this.setFieldError(box, value === "" ? null : `Please enter a number of people from 1 to ${max}.`);
      return;
    }
    this.setFieldError(box, null);
    if (n === this.participants) return;
    this.participants = n;
    this.attempt = null;
    this.renderMembers();
    this.showOptions();
    if (this.repeat) this.loadSeriesPreview();
  }

  /** One field's error (or none), as showFieldErrors shows it, without moving focus. */
  setFieldError(box, message) {
    const input = box.querySelector("input");
    const error = box.querySelector(".bw-field-error");
    const hint = box.querySelector(".bw-hint");
    error.textContent = message || "";
    error.hidden = !message;
    if (message) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
    const described = [message ? error.id : null, hint ? hint.id : null].filter(Boolean).join(" ");
    if (described) input.setAttribute("aria-describedby", described);
    else input.removeAttribute("aria-describedby");
  }

  /** The party's members with a name, for create-intent, and where each came from (the API names `party.N`). */
  partyBody() {
    const party = [];
    const rows = [];
    for (let i = 0; i < this.seats - 1; i += 1) {
      const member = this.members[i];
      if (!member || !member.name) continue;
      party.push(member.email ? { name: member.name, email: member.email } : { name: member.name });
      rows.push(i);
    }
    return { party, rows };
  }

  // ---- a series: repeat weekly or every N weeks ------------------------------------------------------------------

  repeatPart() {
    const policy = this.service.recurrence;
    this.seriesBox = null;
    if (!policy) return null;
    const options = el("div", { class: "bw-options bw-options-row" });
    const choices = [[0, "Just this date"], ...policy.every_weeks.map((n) => [n, n === 1 ? "Weekly" : `Every ${n} weeks`])];
    for (const [every, label] of choices) {
      const id = `${this.uid}-repeat-${every}`;
      const input = el("input", { type: "radio", name: `${this.uid}-repeat`, id, value: every, checked: (this.repeat ? this.repeat.every_weeks : 0) === every });
      input.addEventListener("change", () => this.chooseRepeat(every));
      options.append(el("label", { class: "bw-option", for: id }, input, el("span", {}, el("strong", {}, label))));
    }
    const count = this.field("sessions", "Sessions", {
      type: "number",
      value: String(this.repeat ? this.repeat.count : Math.min(4, policy.max_occurrences)),
      attrs: { min: 2, max: policy.max_occurrences, step: 1, inputmode: "numeric" },
      hint: `This date included: 2 to ${policy.max_occurrences}.`,
      onInput: (value) => {
        const n = Number(value);
        if (!Number.isInteger(n) || n < 2 || n > policy.max_occurrences) {
          this.setFieldError(count, value === "" ? null : `Please enter 2 to ${policy.max_occurrences} sessions.`);
          return;
        }
        this.setFieldError(count, null);
        if (this.repeat && this.repeat.count !== n) {
          this.repeat = { ...this.repeat, count: n };
          this.loadSeriesPreview();
        }
      },
    });
    this.sessionsBox = count;
    this.seriesBox = el("div", { class: "bw-series-preview", "aria-live": "polite" });
    const payNote = policy.payment === "series" ? "A series is paid in full when you book it." : "Each session's deposit (or price) is paid when you book the series.";
    this.repeatDetails = el("div", { class: "bw-repeat-details", hidden: !this.repeat }, count, el("p", { class: "bw-hint" }, payNote), this.seriesBox);
    return el(
      "div",
      { class: "bw-repeat" },
      el("fieldset", { class: "bw-fieldset", style: "margin-bottom: 0" }, el("legend", { class: "bw-legend" }, "Repeat"), options),
      this.repeatDetails,
    );
  }

  chooseRepeat(every) {
    const input = this.sessionsBox.querySelector("input");
    const typed = Number(input.value);
    const max = this.service.recurrence.max_occurrences;
    const count = Number.isInteger(typed) && typed >= 2 && typed <= max ? typed : Math.min(4, max);
    this.repeat = every ? { every_weeks: every, count } : null;
    this.seriesPreview = null;
    this.attempt = null;
    this.repeatDetails.hidden = !this.repeat;
    this.showOptions();
    if (this.repeat) this.loadSeriesPreview(0);
    else this.seriesBox.replaceChildren();
  }

  /** GET /availability/series for the repeat chosen (after a pause while typing); the latest answer wins. */
  loadSeriesPreview(delay = 350) {
    clearTimeout(this.previewTimer);
    const ticket = (this.previewTicket = (this.previewTicket || 0) + 1);
    this.seriesPreview = null;
    this.seriesBox.replaceChildren(el("p", { class: "bw-loading" }, "Checking the dates…"));
    this.previewPending = new Promise((resolve) => {
      this.previewTimer = setTimeout(async () => {
        const repeat = this.repeat;
        if (!repeat) return resolve(null);
        const params = new URLSearchParams({ service_id: this.service.id, start: this.chosenSlot.start, every_weeks: String(repeat.every_weeks), count: String(repeat.count), participants: String(this.seats) });
        let preview = null;
        try {
          preview = await this.call(`/availability/series?${params}`);
        } catch (error) {
          if (ticket === this.previewTicket) this.seriesBox.replaceChildren(el("p", { class: "bw-field-error" }, error.message));
          return resolve(null);
        }
        if (ticket !== this.previewTicket) return resolve(null);
        this.seriesPreview = preview;
        this.renderSeriesPreview();
        this.showOptions();
        resolve(preview);
      }, delay);
    });
    return this.previewPending;
  }

  renderSeriesPreview() {
    const preview = this.seriesPreview;
    const why = { taken: "taken", not_offered: "not offered", blocked_date: "we are closed", buffer_conflict: "too close to another booking", inside_minimum_notice: "too soon", in_past: "past", beyond_booking_window: "too far ahead" };
    const list = el("ul", { class: "bw-series-dates" });
    for (const date of preview.dates) {
      const when = formatDateTime(date.start, this.timeZone, undefined, { weekday: "short", month: "short", day: "numeric", hour: "numeric", minute: "2-digit" });
      list.append(
        el(
          "li",
          { "data-date": date.date, "data-free": String(date.free) },
          el("span", { class: "bw-date" }, when),
          el("span", { class: "bw-free-tag" }, date.free ? "Free" : `Not free: ${why[date.reason] || date.reason || "taken"}`),
        ),
      );
    }
    const total = preview.dates.length;
    const summary =
      preview.free === total
        ? `All ${total} dates are free.`
        : preview.free < 2 || !preview.dates[0].free
          ? `Only ${preview.free} of ${total} dates are free: pick fewer sessions or another time, or book just this date.`
          : `${preview.free} of ${total} dates are free: we book those ${preview.free} and leave out the others.`;
    this.seriesBox.replaceChildren(el("p", { class: "bw-series-summary" }, summary), list);
  }

  /** "Text me a reminder": offered only when the business sends text messages (GET /config) and a phone is given. */
  smsPart() {
    this.smsBox = null;
    if (!(this.config.notifications && this.config.notifications.sms)) return null;
    const toggle = el("input", { type: "checkbox", id: `${this.uid}-sms`, checked: this.textReminder });
    toggle.addEventListener("change", () => (this.textReminder = toggle.checked));
    this.smsBox = el("div", { class: "bw-sms", hidden: !this.attendee.phone }, el("label", { class: "bw-check", for: toggle.id }, toggle, "Text me a reminder"));
    return this.smsBox;
  }

  /** Shows what the options chosen so far make of the price: the currency and promo code parts, the payment choice. */
  showOptions() {
    if (!this.paymentBox) return;
    if (this.currencyBox) this.currencyBox.hidden = this.packageCovers;
    if (this.promoBox) this.promoBox.hidden = this.packageCovers;
    if (this.extrasBox) this.extrasBox.hidden = Boolean(this.repeat);
    this.paymentBox.replaceChildren(this.paymentPart());
    this.showPrice();
    const nothingDue = this.total === 0;
    // With a sign-in token the member price is the API's: whether a payment follows is known once the time is held.
    this.submitButton.textContent = nothingDue ? "Book now" : this.roleToken ? "Continue" : "Continue to payment";
    this.submitButton.dataset.busyLabel = nothingDue ? "Booking…" : "Holding your time…";
  }

  /** The party's and the series' price from the service's data ("10 × $40.00 = $400.00"); create-intent's answer
   * is what is charged, and the payment step shows it. */
  showPrice() {
    if (!this.priceEl) return;
    const money = (amount) => formatMoney(amount, this.price.currency);
    const lines = [];
    if (this.seats > 1 && !this.packageCovers) {
      const rate = this.groupRate;
      const notes = [rate ? `Group rate from ${rate.min_participants} people.` : null, this.appliedPromo ? `${this.appliedPromo.code} is applied when we hold your time.` : null].filter(Boolean);
      lines.push(el("span", { class: "bw-price-party" }, `${this.seats} × ${money(this.seatAmount)} = ${money(this.total)}`));
      if (notes.length) lines.push(el("br"), el("span", { class: "bw-muted" }, notes.join(" ")));
    }
    if (this.repeat && !this.packageCovers) {
      const n = this.occurrences;
      if (lines.length) lines.push(el("br"));
      lines.push(el("span", { class: "bw-price-series" }, `${countOf(n, "session")} × ${money(this.total)} = ${money(n * this.total)}`));
    }
    this.priceEl.replaceChildren(...lines);
    this.priceEl.hidden = !lines.length;
  }

  paymentPart() {
    const service = this.service;
    const price = this.price;
    const total = this.total;
    if (total === 0) {
      const why = this.packageCovers
        ? "One credit of your package pays for this session: nothing to pay."
        : isFree(service)
          ? "This service is free: nothing to pay."
          : `Your promo code covers the whole price (${this.moneyOf(price)}): nothing to pay.`;
      return el("p", { class: "bw-nothing-due" }, why);
    }
    const money = (amount) => formatMoney(amount, price.currency);
    const n = this.occurrences;
    if (this.seriesInFull) {
      return el(
        "fieldset",
        { class: "bw-fieldset" },
        el("legend", { class: "bw-legend" }, "Payment"),
        el("p", { class: "bw-nothing-due bw-series-due" }, `The series in full now: ${money(n * total)}`, el("br"), el("span", { class: "bw-muted" }, "Nothing more to pay at your sessions.")),
      );
    }
    const types = service.payment_types && service.payment_types.length ? service.payment_types : ["full"];
    if (!types.includes(this.paymentType)) this.paymentType = types[0];
    // The deposit's amount is the API's (per currency); a party's is the same share of its price, rounded as the
    // API rounds it; after a promo code's discount it is a share of the new total.
    const promoed = Boolean(this.appliedPromo) && this.seats === 1 && !this.repeat;
    const deposit = total === price.amount ? price.deposit : promoed ? undefined : { amount: depositOf(total, service.deposit_percent), currency: price.currency };
    const each = deposit ? deposit.amount : depositOf(total, service.deposit_percent);
    const options = el("div", { class: "bw-options" });
    for (const type of types) {
      const id = `${this.uid}-pay-${type}`;
      const [title, detail] = this.repeat
        ? type === "full"
          ? [`Pay in full: ${money(n * total)}`, `${countOf(n, "session")}; nothing more to pay at your sessions.`]
          : [`Pay a ${money(each)} deposit for each session now: ${money(n * each)}`, `${money(total - each)} is due at each session.`]
        : type === "full"
          ? [`Pay in full: ${money(total)}`, "Nothing more to pay at your appointment."]
          : deposit
            ? [`Pay a ${this.moneyOf(deposit)} deposit now`, `${money(total - deposit.amount)} is due at your appointment.`]
            : [`Pay a ${service.deposit_percent}% deposit now`, `The rest of ${money(total)} is due at your appointment.`];
      const input = el("input", { type: "radio", name: `${this.uid}-payment-type`, id, value: type, checked: type === this.paymentType });
      input.addEventListener("change", () => (this.paymentType = type));
      options.append(el("label", { class: "bw-option", for: id }, input, el("span", {}, el("strong", {}, title), el("span", { class: "bw-muted" }, detail))));
    }
    return el("fieldset", { class: "bw-fieldset" }, el("legend", { class: "bw-legend" }, "Payment"), options);
  }

  currencyPart() {
    const prices = pricesOf(this.service);
    if (prices.length < 2) return null;
    const options = el("div", { class: "bw-options bw-options-row" });
    for (const price of prices) {
      const id = `${this.uid}-currency-${price.currency}`;
      const input = el("input", { type: "radio", name: `${this.uid}-currency`, id, value: price.currency, checked: price.currency === this.price.currency });
      input.addEventListener("change", () => this.chooseCurrency(price.currency));
      options.append(el("label", { class: "bw-option", for: id }, input, el("span", {}, el("strong", {}, price.currency.toUpperCase()), el("span", { class: "bw-muted" }, this.moneyOf(price)))));
    }
    return el("fieldset", { class: "bw-fieldset bw-currency" }, el("legend", { class: "bw-legend" }, "Pay in"), options);
  }

  async chooseCurrency(currency) {
    this.currency = currency;
    this.showOptions();
    // A promo code's discounted price is per currency: ask again in the new one.
    if (this.promo) await this.applyPromo(this.promo.code);
  }

  backupPart() {
    const pick = el("button", { type: "button", class: "bw-btn bw-btn-secondary", "data-action": "pick-backup" }, this.backupSlot ? "Change" : "Add a backup time");
    pick.addEventListener("click", () => {
      this.clearNotice();
      this.pickingBackup = true;
      this.openSlots(this.weekStart);
    });
    if (!this.backupSlot) {
      return el(
        "div",
        { class: "bw-backup" },
        el("p", {}, el("strong", {}, "Backup time (optional)"), el("br"), el("span", { class: "bw-muted" }, "If we have to close on your day, we move your booking there.")),
        pick,
      );
    }
    const remove = el("button", { type: "button", class: "bw-btn bw-btn-link", "data-action": "remove-backup" }, "Remove");
    remove.addEventListener("click", () => {
      this.backupSlot = null;
      this.renderDetails();
      this.announce("Backup time removed.");
    });
    return el(
      "div",
      { class: "bw-backup", "data-backup": this.backupSlot.start },
      el("p", {}, el("strong", {}, "Backup time: "), this.slotText(this.backupSlot)),
      el("div", { class: "bw-actions", style: "margin-top: 0" }, pick, remove),
    );
  }

  packagePart() {
    const fieldsId = `${this.uid}-package-fields`;
    const toggle = el("input", { type: "checkbox", id: `${this.uid}-use-package`, checked: this.usePackage, "aria-controls": fieldsId, "aria-expanded": String(this.usePackage) });
    const info = this.pkgInfo && this.pkgInfo.package_id === this.pkg.id ? el("p", { class: "bw-hint" }, `“${this.pkgInfo.name}”: ${credits(this.pkgInfo.credits_remaining)} left.`) : null;
    const fields = el(
      "div",
      { class: "bw-package-fields", id: fieldsId, hidden: !this.usePackage },
      info,
      this.field("package.id", "Package number", { value: this.pkg.id, onInput: (v) => (this.pkg.id = v), autocomplete: "off", hint: "It starts with pkg_; it is on your package's page." }),
      this.field("package.secret", "Package key", { value: this.pkg.secret, onInput: (v) => (this.pkg.secret = v), autocomplete: "off" }),
    );
    toggle.addEventListener("change", () => {
      this.usePackage = toggle.checked;
      toggle.setAttribute("aria-expanded", String(toggle.checked));
      fields.hidden = !toggle.checked;
      this.showOptions();
    });
    return el("div", { class: "bw-package" }, el("label", { class: "bw-check", for: toggle.id }, toggle, "Use a package"), fields);
  }

  promoPart() {
    const apply = el("button", { type: "button", class: "bw-btn bw-btn-secondary bw-apply" }, "Apply");
    const box = this.field("promo_code", "Promo code (optional)", {
      value: this.promoText || "",
      autocomplete: "off",
      button: apply,
      onInput: (v) => {
        this.promoText = v;
        if (this.promo && this.promo.code !== v.toUpperCase()) {
          // An edited code is not the one applied: the price goes back until it is applied.
          this.promo = null;
          this.promoResult.textContent = "";
          this.showOptions();
        }
      },
    });
    this.promoResult = el("p", { class: "bw-result bw-promo-result", role: "status" });
    box.append(this.promoResult);
    const input = box.querySelector("input");
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault(); // Enter applies the code, it does not submit the booking
        apply.click();
      }
    });
    apply.addEventListener("click", () => this.busy(apply, () => this.applyPromo(input.value)));
    if (this.promo) this.showPromoResult();
    return box;
  }

  /** GET /promo/{code}: the price with it, or the one message for a code that cannot be used. True when it applies. */
  async applyPromo(typed) {
    const code = String(typed || "").trim().toUpperCase();
    this.promoText = code;
    if (!code) {
      this.promo = null;
      this.promoResult.textContent = "";
      this.showOptions();
      return true;
    }
    const params = new URLSearchParams({ service_id: this.service.id, currency: this.price.currency });
    try {
      this.promo = { code, answer: await this.call(`/promo/${encodeURIComponent(code)}?${params}`) };
    } catch (error) {
      this.promo = null;
      const wait = error instanceof ApiError && error.status === 429 && error.retryAfter ? ` Please try again in ${Math.ceil(error.retryAfter)} s.` : "";
      this.showPromoResult(`${error.message}${wait}`);
      this.showOptions();
      return false;
    }
    this.showPromoResult();
    this.showOptions();
    return Boolean(this.appliedPromo);
  }

  showPromoResult(failure) {
    const promo = this.appliedPromo;
    let text = failure || (this.promo && this.promo.answer.message) || "";
    if (!failure && promo) {
      const { price, discounted_price: now } = promo.answer;
      text = `${promo.code} applied: ${this.moneyOf(now)} instead of ${this.moneyOf(price)}.`;
    }
    this.promoResult.dataset.kind = failure || !promo ? "error" : "ok";
    this.promoResult.textContent = text;
  }

  field(name, label, { type = "text", autocomplete, required = false, hint, value, onInput, button, attrs = {} } = {}) {
    const id = `${this.uid}-${name.replace(/[^a-z0-9]+/gi, "-")}`;
    const hintId = `${id}-hint`;
    const errorId = `${id}-error`;
    const input = el("input", {
      id,
      name,
      type,
      autocomplete,
      required,
      "aria-required": required ? "true" : null,
      "aria-describedby": hint ? hintId : null,
      value: value !== undefined ? value : this.attendee[name] || "",
      ...attrs,
    });
    input.addEventListener("input", () => {
      if (input.getAttribute("aria-invalid") === "true") this.setFieldError(input.closest(".bw-field"), null); // being corrected
      if (onInput) onInput(input.value.trim());
      else this.attendee[name] = input.value.trim();
    });
    return el(
      "div",
      { class: "bw-field", "data-field": name },
      el("label", { for: id }, label),
      hint ? el("p", { class: "bw-hint", id: hintId }, hint) : null,
      button ? el("div", { class: "bw-inline" }, input, button) : input,
      el("p", { class: "bw-field-error", id: errorId, hidden: true }),
    );
  }

  /** Shows each {field, message} beside its input (aria-invalid, aria-describedby) and focuses the first. */
  showFieldErrors(form, problems) {
    const shown = [];
    for (const box of form.querySelectorAll(".bw-field")) {
      const input = box.querySelector("input");
      const error = box.querySelector(".bw-field-error");
      // The API names attendee fields "attendee.phone"; a package refused as a whole is shown on its number.
      const problem = problems.find((p) => {
        const name = p.field.replace(/^attendee\./, "");
        return name === box.dataset.field || (name === "package" && box.dataset.field === "package.id");
      });
      const hintId = box.querySelector(".bw-hint") && box.querySelector(".bw-hint").id;
      if (problem && !box.closest("[hidden]")) {
        error.textContent = problem.message.charAt(0).toUpperCase() + problem.message.slice(1);
        error.hidden = false;
        input.setAttribute("aria-invalid", "true");
        input.setAttribute("aria-describedby", [error.id, hintId].filter(Boolean).join(" "));
        shown.push(input);
      } else {
        error.hidden = true;
        error.textContent = "";
        input.removeAttribute("aria-invalid");
        if (hintId) input.setAttribute("aria-describedby", hintId);
        else input.removeAttribute("aria-describedby");
      }
    }
    if (shown.length) shown[0].focus();
    return shown.length;
  }

  localProblems() {
    const problems = [];
    if (this.packageCovers) {
      if (!this.pkg.id) problems.push({ field: "package.id", message: "Please enter your package's number." });
      if (!this.pkg.secret) problems.push({ field: "package.secret", message: "Please enter your package's key." });
    }
    if (!this.attendee.name) problems.push({ field: "name", message: "Please enter your name." });
    if (!this.attendee.email) problems.push({ field: "email", message: "Please enter your email address." });
    else if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(this.attendee.email)) problems.push({ field: "email", message: "Please enter a valid email address." });
    // Only "missing" here: the API checks the number's form (E.164) and its message is shown beside the field.
    if (this.service.requires_phone && !this.attendee.phone) problems.push({ field: "phone", message: "Please enter your phone number, with its country code." });
    return problems;
  }

  /** The party's and the series' own faults, before anything is held. */
  bookingProblems(form) {
    const problems = [];
    const people = form.querySelector('.bw-field[data-field="participants"] input');
    if (people) {
      const n = Number(people.value);
      if (!Number.isInteger(n) || n < 1 || n > this.maxParty) problems.push({ field: "participants", message: `Please enter a number of people from 1 to ${this.maxParty}.` });
    }
    if (this.membersOpen) {
      for (let i = 0; i < this.seats - 1; i += 1) {
        const member = this.members[i];
        if (member && !member.name && member.email) problems.push({ field: `party.${i}.name`, message: "Please add their name, or clear the email." });
        else if (member && member.email && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(member.email)) problems.push({ field: `party.${i}.email`, message: "Please enter a valid email address, or leave it empty." });
      }
    }
    if (this.repeat) {
      const sessions = form.querySelector('.bw-field[data-field="sessions"] input');
      const n = Number(sessions.value);
      const max = this.service.recurrence.max_occurrences;
      if (!Number.isInteger(n) || n < 2 || n > max) problems.push({ field: "sessions", message: `Please enter 2 to ${max} sessions.` });
      else if (!this.seriesPreview) problems.push({ field: "sessions", message: "We could not check which of these dates are free; please try again." });
      else if (this.seriesPreview && (!this.seriesPreview.dates[0].free || this.seriesPreview.free < 2)) {
        problems.push({ field: "sessions", message: "Fewer than 2 of these dates are free, starting with this one: pick fewer sessions or another time, or book just this date." });
      }
    }
    return problems;
  }

  async createIntent(form) {
    this.clearNotice();
    for (const input of form.querySelectorAll('.bw-field[data-field="name"] input, .bw-field[data-field="email"] input, .bw-field[data-field="phone"] input')) {
      this.attendee[input.name] = input.value.trim();
    }
    if (this.repeat && !this.seriesPreview) await (this.previewPending || this.loadSeriesPreview(0)); // its free dates are booked
    const local = [...this.bookingProblems(form), ...this.localProblems()];
    if (this.showFieldErrors(form, local)) {
      this.announce(`Please correct ${local.length === 1 ? "1 field" : `${local.length} fields`}.`);
      return;
    }
    // A code typed but not applied yet is applied now: the client books at the price they saw.
    const typed = (this.promoText || "").toUpperCase();
    if (!this.repeat && !this.packageCovers && this.promoBox && typed !== (this.promo ? this.promo.code : "")) await this.applyPromo(typed);
    if (!this.repeat && !this.packageCovers && this.promo && !this.appliedPromo) {
      this.showFieldErrors(form, [{ field: "promo_code", message: this.promoResult.textContent || "This code cannot be used." }]);
      return;
    }
    const attendee = { name: this.attendee.name, email: this.attendee.email, time_zone: this.timeZone };
    if (this.attendee.phone) attendee.phone = this.attendee.phone;
    const body = { service_id: this.service.id, start: this.chosenSlot.start, attendee, payment_type: this.total === 0 || this.seriesInFull ? "full" : this.paymentType };
    const { party, rows } = this.partyBody();
    if (this.seats > 1) body.participants = this.seats;
    if (party.length) body.party = party;
    if (this.roleToken) body.role_token = this.roleToken;
    if (this.repeat) {
      // A series: the free dates of the preview; the others are skipped (a series takes no code, package or backup).
      const skip = this.seriesPreview.dates.filter((d) => !d.free).map((d) => d.date);
      body.recurrence = { every_weeks: this.repeat.every_weeks, count: this.repeat.count, ...(skip.length ? { skip } : {}) };
      if (this.price.currency !== this.service.price.currency) body.currency = this.price.currency;
    } else if (this.packageCovers) body.package = { id: this.pkg.id, secret: this.pkg.secret };
    else {
      if (this.price.currency !== this.service.price.currency) body.currency = this.price.currency;
      if (this.appliedPromo) body.promo_code = this.appliedPromo.code;
    }
    if (this.backupSlot && !this.repeat) body.backup_start = this.backupSlot.start;
    if (this.smsBox && !this.smsBox.hidden && this.textReminder) body.notify = { sms: true };
    this.partyRows = rows; // the API names party members by their place in `party`
    const bodyText = JSON.stringify(body);
    // The same attempt keeps its key: a retry or a second click finds the same hold and PaymentIntent.
    if (!this.attempt || this.attempt.body !== bodyText) this.attempt = { body: bodyText, key: uuid(), start: null };
    const attempt = this.attempt;
    let started;
    try {
      started = await this.call("/payments/create-intent", { body, headers: { "Idempotency-Key": attempt.key } });
    } catch (error) {
      this.createIntentFailed(form, error);
      return;
    }
    attempt.start = started;
    if (!started.client_secret && started.verify_url && started.role) this.roleBooked(started);
    else if (!started.client_secret && started.verify_url) this.bookedWithoutPayment(started);
    else await this.renderPayment(started);
  }

  /** What the API priced (create-intent's answer): the role's or the party's price, the series' sessions. */
  pricedRows(started) {
    const currency = started.currency;
    const details = [started.participants > 1 ? countOf(started.participants, "person", "people") : null, started.series ? countOf(started.series.occurrences.length, "session") : null].filter(Boolean);
    if (!started.role && !details.length) return null;
    const label = `${started.role ? roleLabel(started.role) : "Price"}${details.length ? ` (${details.join(", ")})` : ""}`;
    return [el("dt", {}, label), el("dd", { class: "bw-priced" }, started.total === 0 ? "free" : formatMoney(started.total, currency))];
  }

  sessionsList(started) {
    if (!started.series) return null;
    const items = started.series.occurrences.map((o) => el("li", {}, formatDateTime(o.start, this.timeZone, undefined, { weekday: "long", month: "long", day: "numeric", hour: "numeric", minute: "2-digit" })));
    return [el("p", { class: "bw-legend", style: "margin: 0 0 4px" }, "Your sessions"), el("ol", { class: "bw-occurrences" }, items)];
  }

  /** A signed-in member owes nothing (e.g. resident artists book free): the price the API gave, then verify. */
  roleBooked(started) {
    const label = roleLabel(started.role);
    const summary = el("div", { class: "bw-summary" }, el("p", {}, el("strong", {}, this.service.name), el("br"), this.slotText()));
    const amounts = el("dl", { class: "bw-amounts" }, this.pricedRows(started), el("dt", {}, "Due now"), el("dd", { class: "bw-due-now" }, "Nothing"));
    const go = el("button", { type: "button", class: "bw-btn bw-confirm-booking" }, "Confirm my booking");
    go.addEventListener("click", () => {
      go.disabled = true;
      this.bookedWithoutPayment(started);
    });
    this.showStep(
      `${label}: free`,
      summary,
      amounts,
      this.sessionsList(started),
      el("p", { class: "bw-nothing-due" }, `Your ${label.toLowerCase()} price: nothing to pay. This time is yours; confirm to get your confirmation email.`),
      el("div", { class: "bw-actions" }, go),
    );
    this.announce(`${label}: free. Nothing to pay.`);
  }

  /** Nothing was due (free, a 100% code, a package credit): the booking is paid already; verify confirms it. */
  bookedWithoutPayment(started) {
    this.dispatchEvent(new CustomEvent("bw-booked", { bubbles: true, detail: { booking_id: started.booking_id } }));
    this.showStep("Booked", el("p", {}, "Nothing to pay. Confirming your booking…"));
    this.announce("Booked. Confirming your booking.");
    const target = new URL(started.verify_url);
    target.searchParams.set("service", this.service.id);
    location.assign(target.href);
  }

  createIntentFailed(form, error) {
    if (!(error instanceof ApiError)) {
      this.showError(error, () => this.createIntent(form));
      return;
    }
    if (error.code === "role_token_refused") {
      // Nothing was held. The client may sign in again on the site (a new attribute) or book at the public price.
      this.roleRefused = this.getAttribute("role-token");
      this.attempt = null;
      if (this.roleNoteBox) this.roleNoteBox.hidden = true;
      this.showOptions();
      this.dispatchEvent(new CustomEvent("bw-role-refused", { bubbles: true, detail: { reason: error.details.reason || null } }));
      const go = el("button", { type: "button", class: "bw-btn bw-public-price", "data-busy-label": "Holding your time…" }, "Continue at the public price");
      go.addEventListener("click", () => this.busy(go, () => this.createIntent(form)));
      this.showNotice(`${error.message} You can sign in again on our site, or continue at the public price.`, { kind: "error", actions: [go] });
      go.focus();
      return;
    }
    if (error.code === "series_dates_unavailable") {
      // A date went while the client was choosing: the preview again, so the free ones can be booked.
      this.attempt = null;
      this.loadSeriesPreview(0);
      this.showNotice(error.message.replace(/ Nothing was held;.*$/, " Nothing was held: the dates are checked again below."), { kind: "error" });
      return;
    }
    if (error.fields.some((f) => f.field.startsWith("party."))) {
      // The API names members by their place in `party`; the form by their row.
      error.fields.forEach((f) => (f.field = f.field.replace(/^party\.(\d+)/, (_, i) => `party.${(this.partyRows || [])[Number(i)] ?? i}`)));
      if (!this.membersOpen) {
        this.membersOpen = true;
        this.membersToggle.setAttribute("aria-expanded", "true");
        this.membersToggle.querySelector(".bw-disclosure-icon").textContent = "−";
        this.renderMembers();
      }
    }
    if (error.code === "promo_unavailable") {
      this.promo = null;
      this.showOptions();
      this.showFieldErrors(form, [{ field: "promo_code", message: error.message }]);
      this.announce(error.message);
      return;
    }
    if (error.code.startsWith("package")) {
      const fields = error.fields.length ? error.fields : [{ field: "package", message: error.message }];
      if (this.showFieldErrors(form, fields)) {
        this.announce(error.message);
        return;
      }
    }
    if (error.fields.some((f) => f.field === "backup_start")) {
      // The backup time went or is not offered: the client picks another or books without one.
      this.backupSlot = null;
      this.renderDetails();
      this.showNotice(`Your backup time: ${error.fields.find((f) => f.field === "backup_start").message}`, { kind: "error" });
      return;
    }
    if (error.status === 409 || error.code === "slot_not_offered" || error.details.reason === "blocked_date") {
      // The slot went while the client was choosing: say so, then show the week again, refreshed.
      this.attempt = null;
      this.openSlots(this.weekStart).then(() => this.showNotice(error.message, { kind: "error" }));
      return;
    }
    if (error.status === 422 && error.fields.length) {
      const shown = this.showFieldErrors(form, error.fields);
      if (shown) {
        this.announce(error.message);
        return;
      }
    }
    this.showError(error, () => this.createIntent(form));
  }

  // ---- 4. Stripe's Payment Element -------------------------------------------------------------------------------

  appearance() {
    const style = getComputedStyle(this);
    const read = (name, fallback) => style.getPropertyValue(name).trim() || fallback;
    return {
      theme: "stripe",
      variables: {
        colorPrimary: read("--bw-accent", "#4a32c9"),
        colorText: read("--bw-fg", "#1c1b22"),
        colorBackground: read("--bw-bg", "#ffffff"),
        colorDanger: read("--bw-error", "#b0201a"),
        fontFamily: read("--bw-font", "system-ui, sans-serif"),
        borderRadius: read("--bw-radius", "10px"),
      },
    };
  }

  async renderPayment(started) {
    const currency = started.currency;
    const amounts = el(
      "dl",
      { class: "bw-amounts" },
      this.pricedRows(started),
      started.discount ? [el("dt", {}, `Promo code ${started.promo_code}`), el("dd", { class: "bw-discount" }, `−${formatMoney(started.discount, currency)}`)] : null,
      el("dt", {}, "Due now"),
      el("dd", { class: "bw-due-now" }, formatMoney(started.amount_due_now, currency)),
      started.balance_due ? [el("dt", {}, started.series ? "Due at your sessions" : "Due at your appointment"), el("dd", { class: "bw-balance" }, formatMoney(started.balance_due, currency))] : null,
    );
    const held = el("p", { class: "bw-muted bw-held" }, `We are holding ${started.series ? "these times" : "this time"} for you until ${formatTime(started.hold_expires_at, this.timeZone)}.`);
    const mountPoint = el("div", { class: "bw-pay-element", id: `${this.uid}-payment-element` }, el("p", { class: "bw-loading" }, "Loading the payment form…"));
    const payError = el("p", { class: "bw-pay-error", id: `${this.uid}-pay-error`, role: "alert" });
    const pay = el("button", { type: "button", class: "bw-btn bw-pay", "data-busy-label": "Paying…", "aria-describedby": payError.id }, `Pay ${formatMoney(started.amount_due_now, currency)}`);
    const back = el("button", { type: "button", class: "bw-btn bw-btn-secondary", "data-action": "change-time" }, "Choose another time");
    back.addEventListener("click", () => {
      this.clearNotice();
      this.openSlots(this.weekStart);
    });
    pay.disabled = true;
    const summary = el("div", { class: "bw-summary" }, el("p", {}, el("strong", {}, this.service.name), el("br"), this.slotText()));
    this.showStep("Payment", summary, amounts, this.sessionsList(started), held, mountPoint, payError, el("div", { class: "bw-actions" }, pay, back));
    this.watchHold(started, held);

    try {
      const Stripe = await loadStripe(this.config.stripe.js_url);
      const key = started.publishable_key || this.config.stripe.publishable_key;
      if (!this.stripe || this.stripeKey !== key) {
        this.stripe = Stripe(key);
        this.stripeKey = key;
      }
      this.elements = this.stripe.elements({ clientSecret: started.client_secret, appearance: this.appearance() });
      const element = this.elements.create("payment");
      mountPoint.replaceChildren();
      element.mount(mountPoint);
      element.on("change", () => (payError.textContent = ""));
    } catch (error) {
      mountPoint.replaceChildren();
      this.showNotice(error.message || "The payment form could not load.", { kind: "error", retry: () => this.renderPayment(started) });
      return;
    }
    pay.disabled = false;
    pay.addEventListener("click", () => this.busy(pay, () => this.confirm(started, payError)));
    this.announce(`Payment form ready. ${formatMoney(started.amount_due_now, currency)} due now.`);
  }

  watchHold(started, held) {
    clearTimeout(this.holdTimer);
    const left = Date.parse(started.hold_expires_at) - Date.now();
    if (!(left > 0)) return;
    this.holdTimer = setTimeout(() => {
      if (!held.isConnected) return;
      held.textContent = "Our hold on this time has ended. You can still pay; if someone else took the time, you can pick another one or get your money back.";
    }, left);
  }

  async confirm(started, payError) {
    payError.textContent = "";
    this.clearNotice();
    const submitted = await this.elements.submit();
    if (submitted && submitted.error) {
      payError.textContent = submitted.error.message || "Please check your card details.";
      return;
    }
    const returnUrl = new URL(this.verifyPage);
    returnUrl.searchParams.set("booking_id", started.booking_id);
    returnUrl.searchParams.set("service", this.service.id);
    let result;
    try {
      result = await this.stripe.confirmPayment({ elements: this.elements, confirmParams: { return_url: returnUrl.href }, redirect: "if_required" });
    } catch (error) {
      payError.textContent = "We could not reach the payment service. Your card was not charged; please try again.";
      return;
    }
    if (result.error && result.error.code === "payment_intent_unexpected_state") {
      // The hold ended and its PaymentIntent was cancelled before the client paid: nothing was charged.
      this.holdEnded("Our hold on this time ended before the payment, so nothing was charged. Please pick a time again.");
      return;
    }
    if (result.error) {
      // A declined card or failed authentication: the hold and the PaymentIntent stay; another card may be tried.
      payError.textContent = `${result.error.message || "Your payment did not go through."} You can try another card; this time is still held for you.`;
      this.announce(payError.textContent);
      return;
    }
    const intent = result.paymentIntent;
    if (!intent || !["succeeded", "processing", "requires_capture"].includes(intent.status)) {
      payError.textContent = "The payment was not completed. Please try again.";
      return;
    }
    clearTimeout(this.holdTimer);
    this.dispatchEvent(new CustomEvent("bw-payment-confirmed", { bubbles: true, detail: { booking_id: started.booking_id, payment_intent_id: started.payment_intent_id } }));
    this.showStep("Payment received", el("p", {}, "Thank you! Confirming your booking…"));
    this.announce("Payment received. Confirming your booking.");
    await this.issueToken(started);
  }

  /** POST /bookings/create-token, then to the verify page. Waits out a payment still processing or a 503. */
  async issueToken(started) {
    const body = { booking_id: started.booking_id, payment_intent_id: started.payment_intent_id };
    for (let attempt = 0; ; attempt += 1) {
      try {
        const issued = await this.call("/bookings/create-token", { body });
        const target = new URL(issued.verify_url);
        target.searchParams.set("service", this.service.id);
        location.assign(target.href);
        return;
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        const waiting = error.code === "payment_not_succeeded" && error.details.payment_status === "processing";
        if ((waiting || error.status >= 500 || error.status === 0) && attempt < 4) {
          await sleep(1000 * Math.min(error.retryAfter || 2, 10));
          continue;
        }
        this.tokenFailed(started, error);
        return;
      }
    }
  }

  tokenFailed(started, error) {
    if (error.code === "slot_unavailable") {
      if (error.details.token) {
        // Paid, but the time was lost while paying: the verify page offers another time on the same payment.
        const target = new URL(this.verifyPage);
        target.searchParams.set("token", error.details.token);
        target.searchParams.set("service", this.service.id);
        this.showStep("This time was taken", el("p", {}, `${error.message} Opening your choices…`));
        location.assign(target.href);
        return;
      }
      this.attempt = null;
      const again = el("button", { type: "button", class: "bw-btn" }, "Pick another time");
      again.addEventListener("click", () => this.openSlots(this.weekStart));
      this.showStep(
        "This time was taken",
        el("p", { class: "bw-slot-lost" }, "Someone else booked this time while you were paying. Your payment is refunded in full; you can book another time."),
        el("div", { class: "bw-actions" }, again),
      );
      return;
    }
    if (error.status === 410 || error.code === "booking_closed") {
      this.holdEnded(error.message);
      return;
    }
    this.showError(error, () => this.issueToken(started));
  }

  holdEnded(message) {
    clearTimeout(this.holdTimer);
    this.attempt = null;
    const again = el("button", { type: "button", class: "bw-btn" }, "Pick a time again");
    again.addEventListener("click", () => this.openSlots(this.weekStart));
    this.showStep("Your hold has ended", el("p", {}, message), el("div", { class: "bw-actions" }, again));
    this.announce(`Your hold has ended. ${message}`);
  }
}

if (!customElements.get("booking-widget")) customElements.define("booking-widget", BookingWidget);
