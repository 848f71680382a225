/*
 * Stand-in of Stripe.js v3 (https://js.stripe.com/v3/), served by the local Stripe double at <double>/v3/.
 *
 * It implements only the subset the site kit uses (docs/stripe-js.md lists it with the REST calls behind each
 * method), with Stripe.js's result shapes, so a page works unchanged with the real library:
 *   Stripe(pk) · stripe.elements({clientSecret, appearance}) · elements.create("payment") · element.mount(el)
 *   element.on("change", cb) · elements.submit() · stripe.confirmPayment({elements, confirmParams, redirect})
 *   stripe.retrievePaymentIntent(clientSecret) · stripe.handleNextAction({clientSecret})
 * It talks to the double (the origin of this script's src) with the publishable key as the `key` form/query field
 * and the PaymentIntent's client_secret, as Stripe.js does. Real Stripe renders the Payment Element in a
 * cross-origin iframe; this one renders labelled inputs in a container inside the mount element. A 3-D Secure step
 * opens a modal dialog standing in for Stripe's test authentication page.
 */
(function () {
  "use strict";

  if (window.Stripe) {
    return; // the real Stripe.js (or another copy) is already on the page
  }

  var script = document.currentScript;
  var API_BASE = script && script.src ? new URL(script.src, window.location.href).origin : window.location.origin;
  var CLIENT_SECRET = /^(pi_[A-Za-z0-9]+)_secret_[A-Za-z0-9]+$/;
  var HOOK_PATH = "/hooks.stripe.com/3d_secure_2_test/";
  var uid = 0;

  var CSS = [
    ".stripe-standin{--stripe-standin-primary:#0570de;--stripe-standin-text:#1a1f36;--stripe-standin-muted:#4f566b;",
    "--stripe-standin-bg:#ffffff;--stripe-standin-border:#6b7280;--stripe-standin-danger:#b3261e;",
    "--stripe-standin-radius:6px;--stripe-standin-font:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;",
    "--stripe-standin-size:16px;display:grid;gap:12px;min-width:0;max-width:100%;box-sizing:border-box;",
    "font-family:var(--stripe-standin-font);font-size:var(--stripe-standin-size);line-height:1.4;",
    "color:var(--stripe-standin-text)}",
    ".stripe-standin *,.stripe-standin *::before,.stripe-standin *::after{box-sizing:border-box}",
    ".stripe-standin-row{display:grid;grid-template-columns:repeat(auto-fit,minmax(8em,1fr));gap:12px;align-items:end}",
    ".stripe-standin-field{display:grid;gap:4px;min-width:0;margin:0}",
    ".stripe-standin-field label{font-size:.875em;font-weight:600;color:var(--stripe-standin-text)}",
    ".stripe-standin-field input{font:inherit;width:100%;min-height:44px;margin:0;padding:10px 12px;",
    "color:var(--stripe-standin-text);background:var(--stripe-standin-bg);",
    "border:1px solid var(--stripe-standin-border);border-radius:var(--stripe-standin-radius)}",
    ".stripe-standin-field input::placeholder{color:var(--stripe-standin-muted);opacity:1}",
    ".stripe-standin-field input:focus{outline:2px solid var(--stripe-standin-primary);outline-offset:1px;",
    "border-color:var(--stripe-standin-primary)}",
    ".stripe-standin-field input[aria-invalid=true]{border-color:var(--stripe-standin-danger)}",
    ".stripe-standin-error{margin:0;font-size:.875em;color:var(--stripe-standin-danger)}",
    ".stripe-standin-error:empty{display:none}",
    ".stripe-standin-hint{margin:0;font-size:.8125em;color:var(--stripe-standin-muted)}",
    ".stripe-standin-3ds{border:0;border-radius:8px;padding:24px;width:min(26rem,calc(100vw - 2rem));",
    "color:#1a1f36;background:#ffffff;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;",
    "box-shadow:0 12px 40px rgba(10,37,64,.35)}",
    ".stripe-standin-3ds::backdrop{background:rgba(10,37,64,.6)}",
    ".stripe-standin-3ds h2{margin:0 0 8px;font-size:1.25rem;line-height:1.3}",
    ".stripe-standin-3ds p{margin:0 0 16px;color:#3c4257}",
    ".stripe-standin-3ds-actions{display:flex;flex-wrap:wrap;gap:8px}",
    ".stripe-standin-3ds button{font:inherit;font-weight:600;min-height:44px;padding:10px 16px;border-radius:6px;",
    "cursor:pointer}",
    ".stripe-standin-3ds button:focus-visible{outline:3px solid #0570de;outline-offset:2px}",
    "#stripe-3ds-complete{color:#ffffff;background:#0a2540;border:1px solid #0a2540}",
    "#stripe-3ds-fail{color:#a4161a;background:#ffffff;border:1px solid #a4161a}",
  ].join("");

  // ------------------------------------------------------------------------------------------------ helpers

  function IntegrationError(message) {
    var error = new Error(message);
    error.name = "IntegrationError";
    return error;
  }

  // The styles go into the document, or into the shadow root a Payment Element is mounted in.
  function injectStyles(root) {
    var shadow = root && root !== document && root.nodeType === 11;
    if ((shadow ? root : document).querySelector("#stripe-standin-styles")) {
      return;
    }
    var style = document.createElement("style");
    style.id = "stripe-standin-styles";
    style.textContent = CSS;
    (shadow ? root : document.head).appendChild(style);
  }

  function intentId(clientSecret, method) {
    var match = typeof clientSecret === "string" ? CLIENT_SECRET.exec(clientSecret) : null;
    if (!match) {
      throw IntegrationError(
        "Invalid value for " + method + ": clientSecret should be a client secret of the form " +
          "${id}_secret_${secret}. You specified: " + clientSecret + "."
      );
    }
    return match[1];
  }

  // Stripe's form encoding: nested objects as a[b][c]=v, arrays as a[]=v.
  function encode(form, name, value) {
    if (value === undefined || value === null) {
      return;
    }
    if (Array.isArray(value)) {
      value.forEach(function (item) {
        encode(form, name + "[]", item);
      });
    } else if (typeof value === "object") {
      Object.keys(value).forEach(function (key) {
        encode(form, name + "[" + key + "]", value[key]);
      });
    } else {
      form.append(name, String(value));
    }
  }

  function formatAmount(amount, currency) {
    try {
      var format = new Intl.NumberFormat(undefined, { style: "currency", currency: currency.toUpperCase() });
      return format.format(amount / Math.pow(10, format.resolvedOptions().maximumFractionDigits));
    } catch (ignored) {
      return amount + " " + currency;
    }
  }

  // ----------------------------------------------------------------------------------------- card fields

  function digits(text) {
    return (text || "").replace(/\D/g, "");
  }

  function cardLength(number) {
    return /^3[47]/.test(number) ? 15 : 16;
  }

  function luhn(number) {
    var sum = 0;
    for (var i = 0; i < number.length; i++) {
      var d = Number(number.charAt(number.length - 1 - i));
      if (i % 2 === 1) {
        d = d * 2 > 9 ? d * 2 - 9 : d * 2;
      }
      sum += d;
    }
    return sum % 10 === 0;
  }

  var FIELDS = {
    number: {
      label: "Card number",
      name: "cardnumber",
      autocomplete: "cc-number",
      placeholder: "1234 1234 1234 1234",
      format: function (text) {
        var d = digits(text);
        d = d.slice(0, cardLength(d));
        return d.replace(/(\d{4})(?=\d)/g, "$1 ");
      },
      check: function (text) {
        var d = digits(text);
        if (d.length < cardLength(d)) {
          return { code: "incomplete_number", message: "Your card number is incomplete." };
        }
        return luhn(d) ? null : { code: "invalid_number", message: "Your card number is invalid." };
      },
    },
    expiry: {
      label: "Expiration (MM / YY)",
      name: "exp-date",
      autocomplete: "cc-exp",
      placeholder: "MM / YY",
      format: function (text) {
        var d = digits(text).slice(0, 4);
        if (d.length === 1 && d > "1") {
          d = "0" + d;
        }
        return d.length > 2 ? d.slice(0, 2) + " / " + d.slice(2) : d;
      },
      check: function (text) {
        var d = digits(text);
        if (d.length < 4) {
          return { code: "incomplete_expiry", message: "Your card's expiration date is incomplete." };
        }
        var month = Number(d.slice(0, 2));
        var year = 2000 + Number(d.slice(2, 4));
        var now = new Date();
        if (month < 1 || month > 12) {
          return { code: "invalid_expiry_month", message: "Your card's expiration date is invalid." };
        }
        if (year < now.getFullYear()) {
          return { code: "invalid_expiry_year_past", message: "Your card's expiration year is in the past." };
        }
        if (year === now.getFullYear() && month < now.getMonth() + 1) {
          return { code: "invalid_expiry_month_past", message: "Your card's expiration date is in the past." };
        }
        return null;
      },
    },
    cvc: {
      label: "CVC",
      name: "cvc",
      autocomplete: "cc-csc",
      placeholder: "CVC",
      format: function (text) {
        return digits(text).slice(0, 4);
      },
      check: function (text) {
        return digits(text).length < 3
          ? { code: "incomplete_cvc", message: "Your card's security code is incomplete." }
          : null;
      },
    },
  };
  var FIELD_ORDER = ["number", "expiry", "cvc"];

  // ------------------------------------------------------------------------------------- payment element

  function PaymentElement(group) {
    this._group = group;
    this._handlers = {};
    this._inputs = {};
    this._errors = {};
    this._container = null;
    this._target = null;
  }

  PaymentElement.prototype.on = function (event, handler) {
    (this._handlers[event] = this._handlers[event] || []).push(handler);
    return this;
  };

  PaymentElement.prototype._emit = function (event, payload) {
    (this._handlers[event] || []).forEach(function (handler) {
      handler(payload);
    });
  };

  PaymentElement.prototype.mount = function (target) {
    var node = typeof target === "string" ? document.querySelector(target) : target;
    if (!node || node.nodeType !== 1) {
      throw IntegrationError(
        "The selector you specified (" + target + ") applies to no DOM elements that are currently on the page. " +
          "Make sure the element exists on the page before calling mount()."
      );
    }
    if (this._container) {
      throw IntegrationError("This Element is already mounted. Use `unmount` to unmount the Element first.");
    }
    injectStyles(node.getRootNode());
    var self = this;
    var prefix = "stripe-standin-" + ++uid;
    var container = document.createElement("div");
    container.className = "stripe-standin";
    this._group._applyAppearance(container);

    function field(key) {
      var spec = FIELDS[key];
      var wrap = document.createElement("div");
      wrap.className = "stripe-standin-field";
      var label = document.createElement("label");
      label.htmlFor = prefix + "-" + key;
      label.textContent = spec.label;
      var input = document.createElement("input");
      input.id = prefix + "-" + key;
      input.name = spec.name;
      input.type = "text";
      input.inputMode = "numeric";
      input.autocomplete = spec.autocomplete;
      input.placeholder = spec.placeholder;
      input.spellcheck = false;
      input.setAttribute("aria-invalid", "false");
      input.setAttribute("aria-describedby", prefix + "-" + key + "-error");
      var error = document.createElement("p");
      error.id = prefix + "-" + key + "-error";
      error.className = "stripe-standin-error";
      error.setAttribute("aria-live", "polite");
      input.addEventListener("input", function () {
        input.value = spec.format(input.value);
        if (!spec.check(input.value)) {
          self._showError(key, null);
        }
        self._changed();
      });
      input.addEventListener("focus", function () {
        self._target.classList.add("StripeElement--focus");
      });
      input.addEventListener("blur", function () {
        self._target.classList.remove("StripeElement--focus");
        // Like Stripe: a field that was started is checked when the customer leaves it.
        self._showError(key, input.value ? spec.check(input.value) : null);
      });
      wrap.appendChild(label);
      wrap.appendChild(input);
      wrap.appendChild(error);
      self._inputs[key] = input;
      self._errors[key] = error;
      return wrap;
    }

    container.appendChild(field("number"));
    var row = document.createElement("div");
    row.className = "stripe-standin-row";
    row.appendChild(field("expiry"));
    row.appendChild(field("cvc"));
    container.appendChild(row);
    var hint = document.createElement("p");
    hint.className = "stripe-standin-hint";
    hint.textContent =
      "Test mode (local Stripe stand-in). Try 4242 4242 4242 4242 (pays), 4000 0000 0000 0002 (declined) or " +
      "4000 0027 6000 3184 (3-D Secure), any future date and any CVC.";
    container.appendChild(hint);

    node.classList.add("StripeElement", "StripeElement--empty");
    node.appendChild(container);
    this._container = container;
    this._target = node;
    setTimeout(function () {
      self._emit("ready", { elementType: "payment" });
    }, 0);
    return this;
  };

  PaymentElement.prototype._problems = function () {
    var inputs = this._inputs;
    return FIELD_ORDER.map(function (key) {
      var problem = FIELDS[key].check(inputs[key].value);
      return problem ? { key: key, code: problem.code, message: problem.message } : null;
    }).filter(Boolean);
  };

  PaymentElement.prototype._showError = function (key, problem) {
    this._errors[key].textContent = problem ? problem.message : "";
    this._inputs[key].setAttribute("aria-invalid", problem ? "true" : "false");
    this._target.classList.toggle(
      "StripeElement--invalid",
      FIELD_ORDER.some(function (name) {
        return this._inputs[name].getAttribute("aria-invalid") === "true";
      }, this)
    );
  };

  PaymentElement.prototype._changed = function () {
    var inputs = this._inputs;
    var empty = FIELD_ORDER.every(function (key) {
      return !inputs[key].value;
    });
    var complete = this._problems().length === 0;
    this._target.classList.toggle("StripeElement--empty", empty);
    this._target.classList.toggle("StripeElement--complete", complete);
    this._emit("change", {
      elementType: "payment",
      empty: empty,
      complete: complete,
      collapsed: false,
      value: { type: "card" },
    });
  };

  // Shows every problem beside its field and focuses the first; answers Stripe's validation_error or null.
  PaymentElement.prototype._validate = function () {
    var problems = this._problems();
    FIELD_ORDER.forEach(function (key) {
      this._showError(key, null);
    }, this);
    problems.forEach(function (problem) {
      this._showError(problem.key, problem);
    }, this);
    if (!problems.length) {
      return null;
    }
    this._inputs[problems[0].key].focus();
    return { type: "validation_error", code: problems[0].code, message: problems[0].message };
  };

  PaymentElement.prototype._cardData = function () {
    var expiry = digits(this._inputs.expiry.value);
    return {
      type: "card",
      card: {
        number: digits(this._inputs.number.value),
        exp_month: expiry.slice(0, 2),
        exp_year: expiry.slice(2, 4),
        cvc: digits(this._inputs.cvc.value),
      },
    };
  };

  // ------------------------------------------------------------------------------------------- elements

  function Elements(stripe, options) {
    this._stripe = stripe;
    this._clientSecret = options.clientSecret;
    this._appearance = options.appearance || {};
    this._payment = null;
  }

  Elements.prototype.create = function (type, options) {
    if (type !== "payment") {
      throw IntegrationError(
        "The local Stripe.js stand-in only implements the Payment Element; elements.create(\"" + type + "\")."
      );
    }
    if (this._payment) {
      throw IntegrationError("Can only create one Element of type payment.");
    }
    this._payment = new PaymentElement(this, options || {});
    return this._payment;
  };

  // appearance.variables map onto the stand-in's CSS custom properties; theme "night" gives dark defaults.
  Elements.prototype._applyAppearance = function (container) {
    var variables = Object.assign(
      this._appearance.theme === "night"
        ? { colorBackground: "#30313d", colorText: "#ffffff", colorTextSecondary: "#d1d5db", colorDanger: "#ffb4ab" }
        : {},
      this._appearance.variables || {}
    );
    var map = {
      colorPrimary: "primary",
      colorText: "text",
      colorTextSecondary: "muted",
      colorBackground: "bg",
      colorDanger: "danger",
      borderRadius: "radius",
      fontFamily: "font",
      fontSizeBase: "size",
    };
    Object.keys(map).forEach(function (name) {
      if (variables[name]) {
        container.style.setProperty("--stripe-standin-" + map[name], variables[name]);
      }
    });
  };

  Elements.prototype.submit = function () {
    if (!this._payment || !this._payment._container) {
      return Promise.reject(IntegrationError("elements.submit(): mount a Payment Element first."));
    }
    var error = this._payment._validate();
    return Promise.resolve(error ? { error: error } : { selectedPaymentMethod: "card" });
  };

  // -------------------------------------------------------------------------------------------- 3-D Secure

  // Resolves "complete" or "fail"; Escape (closing the modal) fails, as closing Stripe's authentication modal does.
  function askForAuthentication(paymentIntent) {
    injectStyles();
    return new Promise(function (resolve) {
      var opener = document.activeElement;
      var dialog = document.createElement("dialog");
      var id = "stripe-standin-3ds-" + ++uid;
      dialog.className = "stripe-standin-3ds";
      dialog.setAttribute("aria-labelledby", id + "-title");
      dialog.setAttribute("aria-describedby", id + "-text");
      var title = document.createElement("h2");
      title.id = id + "-title";
      title.textContent = "Test payment authentication";
      var text = document.createElement("p");
      text.id = id + "-text";
      text.textContent =
        "Your bank asks you to confirm this payment of " +
        formatAmount(paymentIntent.amount, paymentIntent.currency) +
        ". This is the local stand-in of Stripe's 3-D Secure test page: choose the outcome.";
      var actions = document.createElement("div");
      actions.className = "stripe-standin-3ds-actions";
      var complete = document.createElement("button");
      complete.type = "button";
      complete.id = "stripe-3ds-complete";
      complete.textContent = "Complete authentication";
      var fail = document.createElement("button");
      fail.type = "button";
      fail.id = "stripe-3ds-fail";
      fail.textContent = "Fail authentication";
      actions.appendChild(complete);
      actions.appendChild(fail);
      dialog.appendChild(title);
      dialog.appendChild(text);
      dialog.appendChild(actions);

      var done = false;
      function finish(outcome) {
        if (done) {
          return;
        }
        done = true;
        dialog.close();
        dialog.remove();
        if (opener && typeof opener.focus === "function" && document.contains(opener)) {
          opener.focus();
        }
        resolve(outcome);
      }
      complete.addEventListener("click", function () {
        finish("complete");
      });
      fail.addEventListener("click", function () {
        finish("fail");
      });
      dialog.addEventListener("cancel", function (event) {
        event.preventDefault();
        finish("fail");
      });
      dialog.addEventListener("keydown", function (event) {
        if (event.key !== "Tab") {
          return;
        }
        // Keep focus on the two choices while the dialog is open.
        event.preventDefault();
        (document.activeElement === complete ? fail : complete).focus();
      });
      document.body.appendChild(dialog);
      dialog.showModal();
      complete.focus();
    });
  }

  // ---------------------------------------------------------------------------------------------- Stripe

  function Stripe(key, options) {
    if (!(this instanceof Stripe)) {
      return new Stripe(key, options);
    }
    if (typeof key !== "string" || !key) {
      throw IntegrationError("Please call Stripe() with your publishable key. You used an empty string.");
    }
    if (/^(sk|rk)_/.test(key)) {
      throw IntegrationError(
        "You should not use your secret key with Stripe.js. Please pass a publishable key instead."
      );
    }
    this._key = key;
  }

  // One REST call to the double: the key and parameters form-encoded (a "simple" CORS request, no preflight).
  // Answers {data} or {error} in Stripe's error shape.
  Stripe.prototype._call = function (method, path, params) {
    var form = new URLSearchParams();
    form.append("key", this._key);
    Object.keys(params).forEach(function (name) {
      encode(form, name, params[name]);
    });
    var url = API_BASE + path;
    var init = { method: method, credentials: "omit" };
    if (method === "GET") {
      url += "?" + form.toString();
    } else {
      init.body = form;
    }
    return fetch(url, init).then(
      function (response) {
        return response.json().then(
          function (body) {
            return response.ok ? { data: body } : { error: body.error || { type: "api_error", message: "Error" } };
          },
          function () {
            return { error: { type: "api_error", message: "Stripe answered " + response.status + " without JSON." } };
          }
        );
      },
      function () {
        return {
          error: {
            type: "api_connection_error",
            message: "We could not connect to Stripe (the local double at " + API_BASE + ").",
          },
        };
      }
    );
  };

  Stripe.prototype.elements = function (options) {
    options = options || {};
    if (options.clientSecret !== undefined) {
      intentId(options.clientSecret, "elements()");
    }
    return new Elements(this, options);
  };

  Stripe.prototype.retrievePaymentIntent = function (clientSecret) {
    var id = intentId(clientSecret, "retrievePaymentIntent");
    return this._call("GET", "/v1/payment_intents/" + id, { client_secret: clientSecret }).then(function (result) {
      return result.error ? { error: result.error } : { paymentIntent: result.data };
    });
  };

  // After a confirmation or an authentication: what Stripe.js resolves for this PaymentIntent.
  function outcome(paymentIntent) {
    if (paymentIntent.status === "requires_payment_method" && paymentIntent.last_payment_error) {
      return { error: Object.assign({}, paymentIntent.last_payment_error, { payment_intent: paymentIntent }) };
    }
    return { paymentIntent: paymentIntent };
  }

  // The browser side of `next_action`: the customer authenticates, the double records the outcome.
  Stripe.prototype._authenticate = function (paymentIntent, clientSecret) {
    var sdk = (paymentIntent.next_action || {}).use_stripe_sdk || {};
    var source = sdk.three_d_secure_2_source || sdk.source;
    if (!source) {
      return Promise.resolve({
        error: {
          type: "invalid_request_error",
          message: "The local Stripe.js stand-in cannot follow this next_action.",
          payment_intent: paymentIntent,
        },
      });
    }
    var self = this;
    return askForAuthentication(paymentIntent).then(function (choice) {
      return self
        ._call("POST", HOOK_PATH + encodeURIComponent(source) + "/" + choice, { client_secret: clientSecret })
        .then(function (result) {
          return result.error ? { error: result.error } : outcome(result.data);
        });
    });
  };

  Stripe.prototype.confirmPayment = function (options) {
    options = options || {};
    var elements = options.elements;
    if (!(elements instanceof Elements)) {
      throw IntegrationError("stripe.confirmPayment(): the `elements` argument is required.");
    }
    var clientSecret = options.clientSecret || elements._clientSecret;
    var id = intentId(clientSecret, "stripe.confirmPayment()");
    var confirmParams = options.confirmParams || {};
    var redirect = options.redirect || "always";
    if (redirect !== "always" && redirect !== "if_required") {
      throw IntegrationError("stripe.confirmPayment(): `redirect` must be \"always\" or \"if_required\".");
    }
    if (redirect === "always" && !confirmParams.return_url) {
      throw IntegrationError(
        "stripe.confirmPayment(): the `confirmParams.return_url` argument is required unless passing " +
          "`redirect: 'if_required'`"
      );
    }
    var element = elements._payment;
    if (!element || !element._container) {
      throw IntegrationError("stripe.confirmPayment(): mount a Payment Element before confirming.");
    }
    var invalid = element._validate();
    if (invalid) {
      return Promise.resolve({ error: invalid });
    }
    var params = Object.assign({}, confirmParams, {
      client_secret: clientSecret,
      use_stripe_sdk: "true",
      expand: ["payment_method"],
    });
    if (!params.payment_method) {
      var data = element._cardData();
      if (confirmParams.payment_method_data) {
        data = Object.assign({}, confirmParams.payment_method_data, data);
      }
      params.payment_method_data = data;
    }
    var self = this;
    return this._call("POST", "/v1/payment_intents/" + id + "/confirm", params)
      .then(function (result) {
        if (result.error) {
          return { error: result.error };
        }
        if (result.data.status === "requires_action") {
          return self._authenticate(result.data, clientSecret);
        }
        return outcome(result.data);
      })
      .then(function (result) {
        if (result.error || redirect === "if_required") {
          return result;
        }
        // Like Stripe.js: success leaves for return_url, which learns the result from its query string.
        var target = new URL(confirmParams.return_url, window.location.href);
        target.searchParams.set("payment_intent", result.paymentIntent.id);
        target.searchParams.set("payment_intent_client_secret", clientSecret);
        var status = result.paymentIntent.status === "processing" ? "processing" : "succeeded";
        target.searchParams.set("redirect_status", status);
        window.location.assign(target.toString());
        return new Promise(function () {});
      });
  };

  Stripe.prototype.handleNextAction = function (options) {
    var clientSecret = (options || {}).clientSecret;
    intentId(clientSecret, "handleNextAction");
    var self = this;
    return this.retrievePaymentIntent(clientSecret).then(function (result) {
      if (result.error) {
        return result;
      }
      var paymentIntent = result.paymentIntent;
      if (paymentIntent.status !== "requires_action") {
        return {
          error: {
            type: "invalid_request_error",
            code: "payment_intent_unexpected_state",
            message:
              "handleNextAction: the PaymentIntent has a status of " +
              paymentIntent.status +
              "; only a PaymentIntent in requires_action has a next action to handle.",
            payment_intent: paymentIntent,
          },
        };
      }
      return self._authenticate(paymentIntent, clientSecret);
    });
  };

  window.Stripe = Stripe;
})();
