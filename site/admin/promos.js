// The promo codes view: every code with its uses taken and left, a form to create one (the API's refusals shown next
// to the field they name), and deactivation behind the confirm dialog. Staff see the list only.

import { addDays, el } from "../kit.js";
import { busy, clearFieldErrors, field, fillView, fromMinor, showFieldErrors, startOfDayIn, table, toMinor } from "./ui.js";

const $ = (id) => document.getElementById(id);

// The API's field names -> the form's inputs (for its 422 answers).
const INPUTS = {
  code: "p-code",
  kind: "p-kind",
  value: "p-value",
  max_uses: "p-max-uses",
  valid_from: "p-valid-from",
  valid_until: "p-valid-until",
  services: "p-services-first",
};

export function promosView(ctx) {
  const root = $("view-promos");
  // An amount code takes minor units off in whatever currency the booking is in: the form reads and shows them with
  // the default price's decimals (the catalog's currencies all have two).
  const currency = () => ctx.config().services?.[0]?.price?.currency || "usd";
  let builtFor = null; // the role the view was built for: a sign-in as someone else rebuilds it

  function discountText(promo) {
    if (promo.kind === "free") return "Free session";
    if (promo.kind === "percent") return `${promo.value}% off`;
    return `${fromMinor(promo.value, currency())} off, in the booking's currency`;
  }

  function validity(promo) {
    if (!promo.valid_from && !promo.valid_until) return "Always";
    const day = (iso) => ctx.when(iso, { dateStyle: "medium" });
    const lastDay = () => day(new Date(Date.parse(promo.valid_until) - 1).toISOString()); // the end is excluded
    if (!promo.valid_until) return `From ${day(promo.valid_from)}`;
    if (!promo.valid_from) return `Through ${lastDay()}`;
    return `${day(promo.valid_from)} – ${lastDay()}`;
  }

  function build() {
    const owner = ctx.role() === "owner";
    const list = el("section", { class: "dash-panel", "aria-labelledby": "promos-list-title", id: "promos-list" },
      el("h2", { id: "promos-list-title" }, "Codes"),
      el("div", { id: "promos-table" }, el("p", { class: "kit-loading" }, "Loading…")),
    );
    fillView(
      root,
      owner ? createForm() : el("p", { class: "kit-notice", id: "promos-staff-note" }, "Staff can read the promo codes; only owners can create or deactivate one."),
      list,
    );
    builtFor = ctx.role();
  }

  function createForm() {
    const services = ctx.config().services || [];
    const kind = el("select", { id: "p-kind", name: "kind" },
      el("option", { value: "percent" }, "Percent off"),
      el("option", { value: "amount" }, "Amount off"),
      el("option", { value: "free" }, "Free session (100% off)"),
    );
    const value = el("input", { id: "p-value", name: "value", inputmode: "decimal", autocomplete: "off" });
    const valueField = field("p-value", "Percent off", value, "1 to 100.");
    const form = el(
      "form",
      { class: "dash-panel", id: "promo-form", "aria-labelledby": "promo-form-title", novalidate: true },
      el("h2", { id: "promo-form-title" }, "New promo code"),
      el(
        "div",
        { class: "dash-form-grid" },
        field("p-code", "Code", el("input", { id: "p-code", name: "code", autocomplete: "off", spellcheck: "false", maxlength: "32", class: "dash-code-input" }),
          "3 to 32 letters, digits, - or _. Clients type it in any case."),
        field("p-kind", "Discount", kind),
        valueField,
        field("p-max-uses", "Uses", el("input", { id: "p-max-uses", name: "max_uses", inputmode: "numeric", autocomplete: "off" }), "How many bookings may use it in all."),
        field("p-valid-from", "Valid from (optional)", el("input", { id: "p-valid-from", name: "valid_from", type: "date" })),
        field("p-valid-until", "Valid until (optional, inclusive)", el("input", { id: "p-valid-until", name: "valid_until", type: "date" })),
      ),
      el(
        "fieldset",
        { class: "dash-radios dash-services", "aria-describedby": "p-services-hint p-services-first-error" },
        el("legend", {}, "Services (none ticked: every service)"),
        services.map((s, i) => el("label", {}, el("input", { type: "checkbox", name: "services", value: s.id, id: i === 0 ? "p-services-first" : null }), " ", s.name)),
        el("p", { class: "kit-muted dash-note", id: "p-services-hint" }, "The code works only for the ticked services."),
        el("p", { class: "kit-error dash-field-error", id: "p-services-first-error", hidden: true }),
      ),
      el("p", { class: "kit-error", id: "promo-form-error", role: "alert", hidden: true }),
      el("div", { class: "kit-actions" }, el("button", { type: "submit", class: "kit-button", id: "promo-create" }, "Create the code")),
    );
    const showKind = () => {
      const chosen = kind.value;
      valueField.hidden = chosen === "free";
      valueField.querySelector("label").textContent = chosen === "amount" ? "Amount off" : "Percent off";
      valueField.querySelector("#p-value-hint").textContent = chosen === "amount" ? "Taken off the price in the booking's currency, e.g. 20.00." : "1 to 100.";
    };
    kind.addEventListener("change", showKind);
    showKind();
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      create(form);
    });
    return form;
  }

  function readForm(form) {
    const kind = $("p-kind").value;
    const text = $("p-value").value.trim();
    const body = { code: $("p-code").value.trim().toUpperCase(), kind, max_uses: Number($("p-max-uses").value.trim()) };
    if (kind !== "free") body.value = kind === "amount" ? toMinor(text, currency()) : Number(text);
    // The owner picks days in the business's time zone; the API takes instants, the end excluded.
    if ($("p-valid-from").value) body.valid_from = startOfDayIn($("p-valid-from").value, ctx.zone());
    if ($("p-valid-until").value) body.valid_until = startOfDayIn(addDays($("p-valid-until").value, 1), ctx.zone());
    const services = [...form.querySelectorAll('input[name="services"]:checked')].map((box) => box.value);
    if (services.length) body.services = services;
    // What the browser can tell at once; everything else is the API's to refuse, by field.
    const local = [];
    if (kind !== "free" && (!text || !Number.isFinite(body.value))) local.push({ field: "value", message: kind === "amount" ? "Enter an amount, e.g. 20.00." : "Enter a whole percent, e.g. 25." });
    if (!$("p-max-uses").value.trim() || !Number.isInteger(body.max_uses)) local.push({ field: "max_uses", message: "Enter a whole number, e.g. 25." });
    return { body, local };
  }

  let key = null;
  let keyFor = null;

  async function create(form) {
    const summary = $("promo-form-error");
    summary.hidden = true;
    clearFieldErrors(form);
    const { body, local } = readForm(form);
    if (local.length) {
      summary.textContent = showFieldErrors(form, { fields: local, message: "Check the highlighted fields." }, INPUTS, () => "Check the highlighted fields.");
      summary.hidden = false;
      return;
    }
    // A retry of the same code after a lost answer reuses its key; a changed form is another request.
    const text = JSON.stringify(body);
    if (keyFor !== text) {
      key = ctx.uuid();
      keyFor = text;
    }
    $("promo-create").disabled = true;
    ctx.say("Creating the code…");
    try {
      const promo = await ctx.call("/admin/promo-codes", { method: "POST", body, headers: { "Idempotency-Key": key } });
      form.reset();
      form.querySelector("#p-kind").dispatchEvent(new Event("change"));
      ctx.say(`Created ${promo.code}.`);
      await load();
      $("promos-list-title").focus();
    } catch (error) {
      summary.textContent = showFieldErrors(form, error, INPUTS, ctx.explain);
      summary.hidden = false;
      ctx.say("");
    } finally {
      $("promo-create").disabled = false;
    }
  }

  function render(promos) {
    const owner = ctx.role() === "owner";
    const headings = ["Code", "Discount", "Uses taken", "Remaining", "Valid", "Services", "Status"];
    if (owner) headings.push("Action");
    const rows = promos.map((promo) => {
      const cells = [
        el("code", { class: "dash-code" }, promo.code),
        discountText(promo),
        `${promo.uses_taken} of ${promo.max_uses}`,
        String(promo.uses_remaining),
        validity(promo),
        promo.services && promo.services.length ? promo.services.map(ctx.serviceName).join(", ") : "All",
        el("span", { class: "kit-badge", "data-kind": promo.active ? null : "warn" }, promo.active ? "Active" : "Inactive"),
      ];
      if (owner) {
        cells.push(
          promo.active
            ? el("button", { type: "button", class: "kit-button kit-button-secondary dash-small", "data-deactivate": promo.code, onclick: () => confirmDeactivate(promo) },
                "Deactivate…", el("span", { class: "kit-sr" }, ` ${promo.code}`))
            : "–",
        );
      }
      return cells;
    });
    $("promos-table").replaceChildren(
      table("Promo codes", headings, rows, "No promo code yet.", { id: "promos", rowAttributes: (i) => ({ "data-code": promos[i].code }) }),
    );
  }

  function confirmDeactivate(promo) {
    ctx.openDialog({
      title: `Deactivate ${promo.code}`,
      fields: [],
      effect: () =>
        `Clients can no longer book with ${promo.code} (${discountText(promo).toLowerCase()}): ${promo.uses_remaining} of its ${promo.max_uses} uses stay unused. ` +
        (promo.uses_taken
          ? `The ${promo.uses_taken === 1 ? "booking" : `${promo.uses_taken} bookings`} already made with it keep${promo.uses_taken === 1 ? "s its" : " their"} discount.`
          : "No booking has used it."),
      label: () => `Deactivate ${promo.code}`,
      path: `/admin/promo-codes/${encodeURIComponent(promo.code)}/deactivate`,
      body: () => ({}),
      onDone: async () => {
        ctx.say(`${promo.code} is deactivated.`);
        await load();
        $("promos-list-title").focus();
      },
    });
  }

  async function load() {
    const holder = $("promos-table");
    try {
      const answer = await busy(holder, () => ctx.call("/admin/promo-codes"));
      render(answer.promo_codes);
    } catch (error) {
      holder.replaceChildren(el("p", { class: "kit-error" }, `The promo codes could not be loaded: ${ctx.explain(error)}`));
    }
  }

  return {
    async show() {
      if (builtFor !== ctx.role()) build();
      await load();
    },
  };
}
