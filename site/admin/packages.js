// The packages view: every package sold with its buyer, credits used and left and its status; a package's detail with
// the bookings that used its credits; and the owner's refund of the unused credits' share behind the confirm dialog
// (which states the amount). Staff see the list and the details only.

import { el } from "../kit.js";
import { busy, facts, field, fill, fillView, table, titleCase } from "./ui.js";

const $ = (id) => document.getElementById(id);

const STATUS_WARN = ["refunded", "cancelled", "expired", "pending"];

export function packagesView(ctx) {
  const root = $("view-packages");
  let builtFor = null;
  let shownId = null;

  const buyerName = (pkg) => (pkg.buyer && pkg.buyer.name) || pkg.buyer_name || "–";
  const buyerEmail = (pkg) => (pkg.buyer && pkg.buyer.email) || pkg.buyer_email || null;
  const status = (pkg) => String(pkg.status || "").toLowerCase();
  const remaining = (pkg) => pkg.credits_remaining ?? Math.max(pkg.sessions - pkg.credits_used, 0);
  const priceOf = (pkg) => pkg.price;
  const link = (pkg, text) => el("a", { href: `#packages/${encodeURIComponent(pkg.package_id)}`, "data-package-link": pkg.package_id }, text);

  /** What a refund now gives back, as the API counts it (domain/policy.package_refund_share): the unused credits'
   * share of the price, rounded down, less what was refunded already. */
  function unusedShare(pkg) {
    const price = priceOf(pkg).amount;
    return Math.max(Math.floor((price * remaining(pkg)) / pkg.sessions) - (pkg.amount_refunded || 0), 0);
  }

  function badge(pkg) {
    return el("span", { class: "kit-badge", "data-kind": STATUS_WARN.includes(status(pkg)) ? "warn" : null }, titleCase(status(pkg)));
  }

  function build() {
    fillView(
      root,
      ctx.role() === "owner" ? null : el("p", { class: "kit-notice", id: "packages-staff-note" }, "Staff can read the packages; only owners can refund one."),
      el("section", { class: "dash-panel", "aria-labelledby": "packages-list-title" },
        el("h2", { id: "packages-list-title", tabindex: "-1" }, "Packages sold"),
        el("div", { id: "packages-table" }, el("p", { class: "kit-loading" }, "Loading…")),
      ),
      el("section", { class: "dash-panel dash-detail", id: "package-detail", "aria-labelledby": "package-title", hidden: true, tabindex: "-1" }),
    );
    builtFor = ctx.role();
  }

  function render(packages) {
    const rows = packages.map((pkg) => {
      const price = priceOf(pkg);
      return [
        [link(pkg, buyerName(pkg)), buyerEmail(pkg) ? [el("br"), el("span", { class: "kit-muted" }, buyerEmail(pkg))] : null],
        pkg.name || pkg.catalog_id,
        `${pkg.credits_used} of ${pkg.sessions}`,
        String(remaining(pkg)),
        badge(pkg),
        ctx.money(price.amount, price.currency),
        pkg.expires_at ? ctx.when(pkg.expires_at, { dateStyle: "medium" }) : "Never",
      ];
    });
    $("packages-table").replaceChildren(
      table("Packages sold", ["Buyer", "Package", "Credits used", "Remaining", "Status", "Amount paid", "Expires"], rows, "No package sold yet.", {
        id: "packages",
        rowAttributes: (i) => ({ "data-package": packages[i].package_id, class: packages[i].package_id === shownId ? "dash-selected" : null }),
      }),
    );
  }

  let listed = [];

  async function load(cursor) {
    const holder = $("packages-table");
    try {
      const answer = await busy(holder, () => ctx.call("/admin/packages" + (cursor ? `?cursor=${encodeURIComponent(cursor)}` : "")));
      listed = cursor ? [...listed, ...answer.packages] : answer.packages;
      render(listed);
      if (answer.next_cursor) {
        holder.append(el("button", { type: "button", class: "kit-button kit-button-secondary dash-small", id: "packages-more", onclick: () => load(answer.next_cursor) }, "Older packages"));
      }
    } catch (error) {
      holder.replaceChildren(el("p", { class: "kit-error" }, `The packages could not be loaded: ${ctx.explain(error)}`));
    }
  }

  async function open(packageId) {
    shownId = packageId;
    const box = $("package-detail");
    try {
      const pkg = await ctx.call(`/admin/packages/${encodeURIComponent(packageId)}`);
      renderDetail(pkg);
      box.hidden = false;
      box.scrollIntoView({ block: "start" });
      $("package-title").focus();
      ctx.say(`Showing ${buyerName(pkg)}'s package.`);
    } catch (error) {
      ctx.problem(ctx.explain(error));
    }
  }

  function renderDetail(pkg, message) {
    for (const row of document.querySelectorAll("#packages tbody tr")) row.classList.toggle("dash-selected", row.dataset.package === pkg.package_id);
    const price = priceOf(pkg);
    const share = unusedShare(pkg);
    const canRefund = ["active", "expired"].includes(status(pkg)) && share > 0;
    const owner = ctx.role() === "owner";
    const bookings = (pkg.bookings || []).map((b) => [
      ctx.when(b.start),
      ctx.serviceName(b.service_id),
      titleCase(b.status),
      titleCase(b.credit),
      ctx.bookingLink(b.booking_id, [el("span", {}, "Open booking"), el("span", { class: "kit-sr" }, ` of ${ctx.when(b.start)}`)]),
    ]);
    fill(
      $("package-detail"),
      el("h2", { id: "package-title", tabindex: "-1" }, `${buyerName(pkg)} · ${pkg.name || pkg.catalog_id}`),
      el("p", {}, badge(pkg), " ", el("span", { class: "kit-muted" }, `${remaining(pkg)} of ${pkg.sessions} sessions left`)),
      message ? el("p", { class: "kit-notice dash-result", "data-kind": "success", id: "package-result" }, message) : null,
      owner
        ? el("div", { class: "kit-actions dash-actions" },
            el("button", { type: "button", class: "kit-button", id: "act-package-refund", disabled: !canRefund, onclick: () => confirmRefund(pkg) }, "Refund unused credits…"))
        : null,
      facts([
        ["Buyer", buyerName(pkg)],
        buyerEmail(pkg) ? ["Email", el("a", { href: `mailto:${buyerEmail(pkg)}` }, buyerEmail(pkg))] : null,
        pkg.buyer && pkg.buyer.phone ? ["Phone", pkg.buyer.phone] : null,
        ["Package", el("code", {}, pkg.package_id)],
        ["Paid", ctx.money(price.amount, price.currency)],
        ["Credits", `${pkg.credits_used} used, ${remaining(pkg)} left of ${pkg.sessions}`],
        ["Refunded", ctx.money(pkg.amount_refunded || 0, price.currency)],
        ["Unused share", ctx.money(share, price.currency)],
        ["Services", (pkg.services || []).map(ctx.serviceName).join(", ") || "–"],
        ["Bought", pkg.paid_at ? ctx.when(pkg.paid_at) : `Not paid (ordered ${ctx.when(pkg.created_at)})`],
        ["Expires", pkg.expires_at ? ctx.when(pkg.expires_at) : "Never"],
      ]),
      el("h3", {}, "Bookings with its credits"),
      table("Bookings with this package's credits", ["Start", "Service", "Status", "Credit", "Booking"], bookings, "No booking used a credit yet."),
      el("h3", {}, "History"),
      table("Package history", ["When", "Who", "Change", "Why"], (pkg.history || []).map((h) => [
        ctx.when(h.at), h.actor, h.source === h.target ? titleCase(h.target) : `${titleCase(h.source)} → ${titleCase(h.target)}`, h.reason,
      ]), "No history."),
    );
  }

  function confirmRefund(pkg) {
    const price = priceOf(pkg);
    const share = unusedShare(pkg);
    const reason = el("input", { id: "c-package-reason", autocomplete: "off", maxlength: "500" });
    ctx.openDialog({
      title: `Refund ${buyerName(pkg)}'s package`,
      fields: [field("c-package-reason", "Reason (optional, kept with the package)", reason)],
      effect: () =>
        `Refund ${ctx.money(share, price.currency)} to the buyer's card: the share of the ${remaining(pkg)} unused of ${pkg.sessions} sessions ` +
        `(${ctx.money(price.amount, price.currency)} paid). The ${pkg.credits_used} used ${pkg.credits_used === 1 ? "session stays" : "sessions stay"} paid, ` +
        "and the package cannot book any more sessions. This cannot be undone.",
      label: () => `Refund ${ctx.money(share, price.currency)}`,
      path: `/admin/packages/${encodeURIComponent(pkg.package_id)}/refund`,
      body: () => (reason.value.trim() ? { reason: reason.value.trim() } : {}),
      onDone: async (answer) => {
        const fresh = answer.package;
        const said = answer.refunded > 0 ? `Refunded ${ctx.money(answer.refunded, price.currency)} for the ${remaining(fresh)} unused sessions.` : answer.message;
        const message = `${said} The package is ${status(fresh)}: it books no more sessions.`;
        renderDetail(fresh, message);
        ctx.say(message);
        await load();
        $("package-title").focus();
      },
    });
  }

  return {
    async show(packageId) {
      if (builtFor !== ctx.role()) build();
      if (!packageId) $("package-detail").hidden = true;
      await load();
      if (packageId) await open(packageId);
    },
  };
}
