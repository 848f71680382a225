"""Resources and business rules of the local Stripe double (see `local/stripe_double.py` for the HTTP side).

Objects are plain dicts in Stripe's wire shape; keys starting with `_` are private bookkeeping and never rendered.
Every public method of `StripeStore` expects the caller to hold the double's lock.
"""

from __future__ import annotations

import copy
import hashlib
import re
import secrets
import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any

API_VERSION = "2026-10-28.endive"  # stripe 16.1.0 pins this (stripe/_api_version.py)

Obj = dict[str, Any]

_ALNUM = string.ascii_letters + string.digits
ZERO_DECIMAL = frozenset(
    ["bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"]
)
# Minimum charge amounts (docs.stripe.com/currencies#minimum-and-maximum-charge-amounts), smallest unit.
MINIMUM_AMOUNT = {
    "usd": 50,
    "aed": 200,
    "aud": 50,
    "bgn": 100,
    "brl": 50,
    "cad": 50,
    "chf": 50,
    "czk": 1500,
    "dkk": 250,
    "eur": 50,
    "gbp": 30,
    "hkd": 400,
    "huf": 17500,
    "inr": 50,
    "jpy": 50,
    "mxn": 1000,
    "myr": 200,
    "nok": 300,
    "nzd": 50,
    "pln": 200,
    "ron": 200,
    "sek": 300,
    "sgd": 50,
    "thb": 1000,
}
SUPPORTED_CURRENCIES = (
    frozenset(MINIMUM_AMOUNT)
    | ZERO_DECIMAL
    | frozenset(
        [
            "ars",
            "cny",
            "cop",
            "egp",
            "idr",
            "ils",
            "isk",
            "kes",
            "mad",
            "ngn",
            "pen",
            "php",
            "pkr",
            "qar",
            "sar",
            "try",
            "twd",
            "uah",
            "zar",
        ]
    )
)
MAX_AMOUNT = 99_999_999  # eight digits
_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥"}

PI_CANCELABLE = (
    "requires_payment_method",
    "requires_capture",
    "requires_confirmation",
    "requires_action",
    "processing",
)
PI_CONFIRMABLE = ("requires_confirmation", "requires_payment_method", "requires_action")
CANCELLATION_REASONS = ("duplicate", "fraudulent", "requested_by_customer", "abandoned")
REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")
REFUND_FAILURE_REASONS = (
    "charge_for_pending_refund_disputed",
    "declined",
    "expired_or_canceled_card",
    "insufficient_funds",
    "lost_or_stolen_card",
    "merchant_request",
    "unknown",
)
DISPUTE_CLOSED = ("won", "lost", "warning_closed", "prevented")
DISPUTE_REASONS = (
    "bank_cannot_process",
    "check_returned",
    "credit_not_processed",
    "customer_initiated",
    "debit_not_authorized",
    "duplicate",
    "fraudulent",
    "general",
    "incorrect_account_details",
    "insufficient_funds",
    "noncompliant",
    "product_not_received",
    "product_unacceptable",
    "subscription_canceled",
    "unrecognized",
)


def random_text(length: int, alphabet: str = _ALNUM) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def new_id(prefix: str, length: int = 24) -> str:
    return f"{prefix}_{random_text(length)}"


def format_amount(amount: int, currency: str) -> str:
    if currency in ZERO_DECIMAL:
        return f"{_SYMBOLS.get(currency, '')}{amount}" + ("" if currency in _SYMBOLS else f" {currency}")
    value = f"{amount / 100:,.2f}"
    return f"{_SYMBOLS[currency]}{value}" if currency in _SYMBOLS else f"{value} {currency}"


def public(obj: Obj) -> Obj:
    """Deep copy without private keys: what a client (or an event snapshot) sees."""
    return {k: copy.deepcopy(v) for k, v in obj.items() if not k.startswith("_")}


def publishable_view(body: Any) -> Any:
    """What a publishable-key caller sees of an answer (errors included): PaymentIntents cut to the fields Stripe
    lets a publishable key read, metadata redacted everywhere."""
    if isinstance(body, list):
        return [publishable_view(item) for item in body]
    if not isinstance(body, dict):
        return body
    keep = PUBLISHABLE_PI_FIELDS if body.get("object") == "payment_intent" else None
    return {k: publishable_view(v) for k, v in body.items() if k != "metadata" and (keep is None or k in keep)}


def luhn_valid(number: str) -> bool:
    digits = [int(d) for d in reversed(number)]
    total = sum(digits[0::2]) + sum(sum(divmod(2 * d, 10)) for d in digits[1::2])
    return total % 10 == 0


# ----------------------------------------------------------------------------------------------------------- errors


class StripeError(Exception):
    """An API error in Stripe's shape. `saved=False` marks validation failures, which Stripe does not store
    under an idempotency key (the request never started executing), so a retry with the same key runs again."""

    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        saved: bool = True,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.code = code
        self.param = param
        self.saved = saved
        self.extra = extra

    def body(self) -> Obj:
        error: Obj = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        error.update({k: v for k, v in self.extra.items() if v is not None})
        return {"error": error}


def invalid(message: str, *, param: str | None = None, code: str | None = None, saved: bool = False) -> StripeError:
    return StripeError(400, "invalid_request_error", message, code=code, param=param, saved=saved)


def missing(kind: str, object_id: str, *, param: str = "id", status: int = 404) -> StripeError:
    # Stripe answers 404 for an unknown ID in the path and 400 for an unknown ID passed as a parameter.
    return StripeError(
        status, "invalid_request_error", f"No such {kind}: '{object_id}'", code="resource_missing", param=param
    )


def unexpected_state(message: str, **extra: Any) -> StripeError:
    return StripeError(400, "invalid_request_error", message, code="payment_intent_unexpected_state", **extra)


# ----------------------------------------------------------------------------------------------------------- params

_CLEAR = object()  # `metadata=""`: unset every key


class Params:
    """Typed, validating access to one request's decoded form parameters."""

    def __init__(self, raw: Mapping[str, Any], prefix: str = "") -> None:
        self.raw = dict(raw)
        self.prefix = prefix

    def qualified(self, name: str) -> str:
        return f"{self.prefix}[{name}]" if self.prefix else name

    def allow(self, *groups: Iterable[str]) -> None:
        allowed = {name for group in groups for name in group}
        for key in self.raw:
            if key not in allowed:
                raise invalid(
                    f"Received unknown parameter: {self.qualified(key)}",
                    param=self.qualified(key),
                    code="parameter_unknown",
                )

    def has(self, name: str) -> bool:
        return name in self.raw

    def string(self, name: str, *, required: bool = False, max_length: int = 5000) -> str | None:
        value = self.raw.get(name)
        if value is None or value == "":
            if required:
                raise invalid(
                    f"Missing required param: {self.qualified(name)}.",
                    param=self.qualified(name),
                    code="parameter_missing",
                )
            return None
        if not isinstance(value, str):
            raise invalid(f"Invalid string: {value!r}", param=self.qualified(name), code="parameter_invalid_string")
        if len(value) > max_length:
            raise invalid(
                f"Invalid string: {value[:20]}...; must be at most {max_length} characters",
                param=self.qualified(name),
                code="parameter_invalid_string",
            )
        return value

    def integer(self, name: str, *, required: bool = False, minimum: int | None = None) -> int | None:
        text = self.string(name, required=required)
        if text is None:
            return None
        if not re.fullmatch(r"-?\d+", text):
            raise invalid(f"Invalid integer: {text}", param=self.qualified(name), code="parameter_invalid_integer")
        value = int(text)
        if minimum is not None and value < minimum:
            raise invalid(
                f"This value must be greater than or equal to {minimum}.",
                param=self.qualified(name),
                code="parameter_invalid_integer",
            )
        return value

    def boolean(self, name: str) -> bool | None:
        text = self.string(name)
        if text is None:
            return None
        if text not in ("true", "false"):
            raise invalid(f"Invalid boolean: {text}", param=self.qualified(name))
        return text == "true"

    def enum(self, name: str, choices: Iterable[str], *, required: bool = False) -> str | None:
        value = self.string(name, required=required)
        options = list(choices)
        if value is not None and value not in options:
            listed = ", ".join(options[:-1]) + f", or {options[-1]}" if len(options) > 1 else options[0]
            raise invalid(f"Invalid {self.qualified(name)}: must be one of {listed}", param=self.qualified(name))
        return value

    def strings(self, name: str) -> list[str] | None:
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise invalid(f"Invalid array: {self.qualified(name)}", param=self.qualified(name))
        return value

    def nested(self, name: str, allowed: Iterable[str]) -> Params | None:
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        if not isinstance(value, dict):
            raise invalid(f"Invalid object: {self.qualified(name)}", param=self.qualified(name))
        sub = Params(value, self.qualified(name))
        sub.allow(allowed)
        return sub

    def dictionary(self, name: str) -> Obj | None:
        """A free-form object we store as given (shipping, address, payment_method_options...)."""
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        if not isinstance(value, dict):
            raise invalid(f"Invalid object: {self.qualified(name)}", param=self.qualified(name))
        return value

    def metadata(self) -> Any:
        """None (untouched), _CLEAR, or {key: value-or-None}: Stripe unsets a key posted with an empty value."""
        value = self.raw.get("metadata")
        if value is None:
            return None
        if value == "":
            return _CLEAR
        if not isinstance(value, dict):
            raise invalid("Invalid object: metadata", param="metadata")
        if len(value) > 50:
            raise invalid("You can specify up to 50 keys in metadata.", param="metadata")
        result: dict[str, str | None] = {}
        for key, item in value.items():
            if len(key) > 40:
                raise invalid(
                    f"Metadata keys can have up to 40 characters; {key!r} has {len(key)}.", param=f"metadata[{key}]"
                )
            if not isinstance(item, str):
                raise invalid(f"Invalid string: metadata[{key}] must be a string", param=f"metadata[{key}]")
            if len(item) > 500:
                raise invalid(
                    f"Metadata values can have up to 500 characters; metadata[{key}] has {len(item)}.",
                    param=f"metadata[{key}]",
                )
            result[key] = item or None
        return result

    def created_range(self) -> Callable[[int], bool] | None:
        value = self.raw.get("created")
        if value is None or value == "":
            return None
        if isinstance(value, str):
            exact = self.integer("created")
            return lambda ts: ts == exact
        bounds = self.nested("created", ("gt", "gte", "lt", "lte"))
        assert bounds is not None
        gt, gte, lt, lte = (bounds.integer(op) for op in ("gt", "gte", "lt", "lte"))
        return lambda ts: (
            (gt is None or ts > gt)
            and (gte is None or ts >= gte)
            and (lt is None or ts < lt)
            and (lte is None or ts <= lte)
        )

    def expand(self) -> list[str]:
        return self.strings("expand") or []


def apply_metadata(target: Obj, update: Any) -> None:
    if update is None:
        return
    if update is _CLEAR:
        target["metadata"] = {}
        return
    merged = dict(target.get("metadata") or {})
    for key, value in update.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    target["metadata"] = merged


# ------------------------------------------------------------------------------------------------------ test cards


@dataclass(frozen=True)
class TestCard:
    brand: str
    last4: str
    funding: str = "credit"
    outcome: str = "succeed"  # succeed | decline | auth_required | auth_on_setup | dispute
    code: str | None = None
    decline_code: str | None = None
    message: str | None = None
    attach_fails: bool = False  # Stripe verifies these cards when they are attached to a customer


_DECLINED = "Your card was declined."
TEST_CARDS: dict[str, TestCard] = {
    "pm_card_visa": TestCard("visa", "4242"),
    "pm_card_visa_debit": TestCard("visa", "5556", funding="debit"),
    "pm_card_mastercard": TestCard("mastercard", "4444"),
    "pm_card_amex": TestCard("amex", "8431"),
    "pm_card_chargeDeclined": TestCard(
        "visa",
        "0002",
        outcome="decline",
        code="card_declined",
        decline_code="generic_decline",
        message=_DECLINED,
        attach_fails=True,
    ),
    "pm_card_chargeDeclinedInsufficientFunds": TestCard(
        "visa",
        "9995",
        outcome="decline",
        code="card_declined",
        decline_code="insufficient_funds",
        message="Your card has insufficient funds.",
        attach_fails=True,
    ),
    "pm_card_chargeDeclinedLostCard": TestCard(
        "visa",
        "9987",
        outcome="decline",
        code="card_declined",
        decline_code="lost_card",
        message=_DECLINED,
        attach_fails=True,
    ),
    "pm_card_chargeDeclinedStolenCard": TestCard(
        "visa",
        "9979",
        outcome="decline",
        code="card_declined",
        decline_code="stolen_card",
        message=_DECLINED,
        attach_fails=True,
    ),
    "pm_card_chargeDeclinedExpiredCard": TestCard(
        "visa",
        "0069",
        outcome="decline",
        code="expired_card",
        decline_code="expired_card",
        message="Your card has expired.",
        attach_fails=True,
    ),
    "pm_card_chargeDeclinedProcessingError": TestCard(
        "visa",
        "0119",
        outcome="decline",
        code="processing_error",
        decline_code="processing_error",
        message="An error occurred while processing your card. Try again in a little bit.",
        attach_fails=True,
    ),
    "pm_card_chargeCustomerFail": TestCard(
        "visa", "0341", outcome="decline", code="card_declined", decline_code="generic_decline", message=_DECLINED
    ),
    "pm_card_authenticationRequired": TestCard("visa", "3184", outcome="auth_required"),
    "pm_card_authenticationRequiredOnSetup": TestCard("visa", "3155", outcome="auth_on_setup"),
    "pm_card_createDispute": TestCard("visa", "0259", outcome="dispute"),
}
# Stripe's test card numbers (docs.stripe.com/testing), as typed into the Payment Element, and the test token each
# stands for: a PaymentMethod made from a number behaves exactly like one made from its token.
CARD_NUMBERS: dict[str, str] = {
    "4242424242424242": "pm_card_visa",
    "4000056655665556": "pm_card_visa_debit",
    "5555555555554444": "pm_card_mastercard",
    "378282246310005": "pm_card_amex",
    "4000000000000002": "pm_card_chargeDeclined",
    "4000000000009995": "pm_card_chargeDeclinedInsufficientFunds",
    "4000000000009987": "pm_card_chargeDeclinedLostCard",
    "4000000000009979": "pm_card_chargeDeclinedStolenCard",
    "4000000000000069": "pm_card_chargeDeclinedExpiredCard",
    "4000000000000119": "pm_card_chargeDeclinedProcessingError",
    "4000000000000341": "pm_card_chargeCustomerFail",
    "4000002760003184": "pm_card_authenticationRequired",
    "4000002500003155": "pm_card_authenticationRequiredOnSetup",
    "4000000000000259": "pm_card_createDispute",
}
RAW_CARD_REFUSED = (
    "Sending credit card numbers directly to the Stripe API is generally unsafe. We suggest you use test tokens "
    "that map to the test card you are using, see https://stripe.com/docs/testing. To enable testing raw card data "
    "APIs, see https://support.stripe.com/questions/enabling-access-to-raw-card-data-apis."
)
AUTHENTICATION_FAILED = (
    "The provided PaymentMethod has failed authentication. You can provide payment_method_data or a new "
    "PaymentMethod to attempt to fulfill this PaymentIntent again."
)
# The PaymentIntent fields the API reference marks "retrievable with publishable key"; a publishable-key answer
# carries only these (and never metadata, which Stripe redacts for publishable keys).
PUBLISHABLE_PI_FIELDS = frozenset(
    [
        "id",
        "object",
        "amount",
        "amount_details",
        "automatic_payment_methods",
        "canceled_at",
        "cancellation_reason",
        "capture_method",
        "client_secret",
        "confirmation_method",
        "created",
        "currency",
        "description",
        "excluded_payment_method_types",
        "last_payment_error",
        "livemode",
        "next_action",
        "payment_method",
        "payment_method_configuration_details",
        "payment_method_types",
        "processing",
        "receipt_email",
        "setup_future_usage",
        "shipping",
        "source",
        "status",
    ]
)
# What a browser may send when it confirms with a publishable key and the client_secret.
CLIENT_CONFIRM_PARAMS = (
    "client_secret",
    "expand",
    "payment_method",
    "payment_method_data",
    "receipt_email",
    "return_url",
    "setup_future_usage",
    "shipping",
    "use_stripe_sdk",
)
_AUTH_REQUIRED = TestCard(
    "visa",
    "3184",
    outcome="decline",
    code="authentication_required",
    decline_code="authentication_required",
    message="Your card was declined. This transaction requires authentication.",
)

# Which fields of which object can be expanded, and the store collection holding the target.
EXPANDABLE: dict[str, dict[str, str]] = {
    "payment_intent": {"latest_charge": "charge", "customer": "customer", "payment_method": "payment_method"},
    "charge": {"customer": "customer", "payment_intent": "payment_intent"},
    "refund": {"charge": "charge", "payment_intent": "payment_intent"},
    "transfer": {"source_transaction": "charge"},
    "transfer_reversal": {"transfer": "transfer"},
    "dispute": {"charge": "charge", "payment_intent": "payment_intent"},
    "payment_method": {"customer": "customer"},
}


@dataclass
class RequestInfo:
    """Who caused the current change: copied into every event's `request`."""

    id: str | None = None
    idempotency_key: str | None = None
    publishable: bool = False  # made with a publishable key (pk_test_...): a browser holding a client_secret


# ------------------------------------------------------------------------------------------------------------ store


class StripeStore:
    def __init__(self, clock: Callable[[], datetime], event_sink: Callable[[Obj], None]) -> None:
        self._clock = clock
        self._event_sink = event_sink
        self.request = RequestInfo()
        self.objects: dict[str, dict[str, Obj]] = {
            kind: {}
            for kind in (
                "customer",
                "payment_intent",
                "charge",
                "payment_method",
                "refund",
                "transfer",
                "transfer_reversal",
                "dispute",
                "event",
            )
        }
        self._seq = 0

    # -------------------------------------------------------------------------------------------- plumbing

    def now(self) -> int:
        return int(self._clock().timestamp())

    def _add(self, obj: Obj) -> Obj:
        # `_seq` orders objects created within the same second (a frozen test clock makes that common).
        self._seq += 1
        obj["_seq"] = self._seq
        self.objects[obj["object"]][obj["id"]] = obj
        return obj

    def get(self, kind: str, object_id: str, *, param: str = "id", status: int = 404) -> Obj:
        obj = self.objects[kind].get(object_id)
        if obj is None:
            raise missing(kind, object_id, param=param, status=status)
        return obj

    def find(self, object_id: str) -> Obj | None:
        for collection in self.objects.values():
            if object_id in collection:
                return collection[object_id]
        return None

    def emit(self, type_: str, obj: Obj, previous: Obj | None = None) -> Obj:
        data: Obj = {"object": public(obj)}
        if previous is not None and type_.endswith(".updated"):
            data["previous_attributes"] = previous
        event = self._add(
            {
                "id": new_id("evt"),
                "object": "event",
                "api_version": API_VERSION,
                "created": self.now(),
                "data": data,
                "livemode": False,
                "pending_webhooks": 0,
                "request": {"id": self.request.id, "idempotency_key": self.request.idempotency_key},
                "type": type_,
            }
        )
        self._event_sink(event)
        return event

    def render(self, obj: Obj, expand: Iterable[str] = ()) -> Obj:
        out = public(obj)
        for path in expand:
            self._expand(out, path.split("."))
        return out

    def _expand(self, out: Obj, parts: list[str]) -> None:
        field, rest = parts[0], parts[1:]
        if out.get("object") == "list" and field == "data":
            for item in out["data"]:
                if rest:
                    self._expand(item, rest)
            return
        kind = EXPANDABLE.get(out.get("object", ""), {}).get(field)
        if kind is None:
            raise invalid(f"This property cannot be expanded ({field}).", param="expand", saved=True)
        value = out.get(field)
        if isinstance(value, str):
            target = self.objects[kind].get(value)
            value = out[field] = public(target) if target else value
        if rest and isinstance(value, dict):
            self._expand(value, rest)

    def page(self, items: Iterable[Obj], p: Params, url: str, kind: str) -> Obj:
        """Stripe's list envelope: newest first, cursor pagination, `created` filters."""
        limit = p.integer("limit", minimum=1)
        limit = 10 if limit is None else limit
        if limit > 100:
            raise invalid(
                "This value must be less than or equal to 100.", param="limit", code="parameter_invalid_integer"
            )
        in_range = p.created_range()
        rows = sorted(
            (o for o in items if in_range is None or in_range(o["created"])),
            key=lambda o: (o["created"], o["_seq"]),
            reverse=True,
        )
        after, before = p.string("starting_after"), p.string("ending_before")
        if after:
            cursor = self.get(kind, after, param="starting_after", status=400)
            rows = [o for o in rows if (o["created"], o["_seq"]) < (cursor["created"], cursor["_seq"])]
            chunk, has_more = rows[:limit], len(rows) > limit
        elif before:
            cursor = self.get(kind, before, param="ending_before", status=400)
            rows = [o for o in rows if (o["created"], o["_seq"]) > (cursor["created"], cursor["_seq"])]
            chunk, has_more = rows[-limit:], len(rows) > limit
        else:
            chunk, has_more = rows[:limit], len(rows) > limit
        envelope = {"object": "list", "data": [public(o) for o in chunk], "has_more": has_more, "url": url}
        for path in p.expand():
            self._expand(envelope, path.split("."))
        return envelope

    # ------------------------------------------------------------------------------------------- customers

    _CUSTOMER_FIELDS = ("address", "description", "email", "name", "phone", "shipping", "preferred_locales")

    def create_customer(self, p: Params) -> Obj:
        p.allow(self._CUSTOMER_FIELDS, ("expand", "metadata", "payment_method", "invoice_settings", "tax_exempt"))
        values = self._customer_values(p)
        pm_token = p.string("payment_method")
        metadata = p.metadata()
        pm = self._resolve_payment_method(pm_token) if pm_token else None
        if pm is not None:
            self._check_attachable(pm)
        customer = {
            "id": new_id("cus", 14),
            "object": "customer",
            "address": None,
            "balance": 0,
            "created": self.now(),
            "currency": None,
            "default_source": None,
            "delinquent": False,
            "description": None,
            "discount": None,
            "email": None,
            "invoice_prefix": random_text(8, string.ascii_uppercase),
            "invoice_settings": {
                "custom_fields": None,
                "default_payment_method": None,
                "footer": None,
                "rendering_options": None,
            },
            "livemode": False,
            "metadata": {},
            "name": None,
            "next_invoice_sequence": 1,
            "phone": None,
            "preferred_locales": [],
            "shipping": None,
            "tax_exempt": "none",
            "test_clock": None,
        }
        customer.update(values)
        apply_metadata(customer, metadata)
        self._add(customer)
        self.emit("customer.created", customer)
        if pm is not None:
            self._attach(pm, customer)
        return self.render(customer, p.expand())

    def _customer_values(self, p: Params) -> Obj:
        values: Obj = {}
        for field in ("description", "email", "name", "phone"):
            if p.has(field):
                values[field] = p.string(field, max_length=512 if field == "email" else 5000)
        for field in ("address", "shipping"):
            if p.has(field):
                values[field] = p.dictionary(field)
        if p.has("preferred_locales"):
            values["preferred_locales"] = p.strings("preferred_locales") or []
        if p.has("tax_exempt"):
            values["tax_exempt"] = p.enum("tax_exempt", ("none", "exempt", "reverse"))
        settings = p.nested("invoice_settings", ("default_payment_method", "footer", "custom_fields"))
        if settings is not None:
            values["invoice_settings"] = {
                "custom_fields": None,
                "default_payment_method": settings.string("default_payment_method"),
                "footer": settings.string("footer"),
                "rendering_options": None,
            }
        return values

    def retrieve_customer(self, p: Params, customer_id: str) -> Obj:
        p.allow(("expand",))
        return self.render(self.get("customer", customer_id), p.expand())

    def update_customer(self, p: Params, customer_id: str) -> Obj:
        customer = self.get("customer", customer_id)
        p.allow(self._CUSTOMER_FIELDS, ("expand", "metadata", "invoice_settings", "tax_exempt"))
        values = self._customer_values(p)
        metadata = p.metadata()
        before = public(customer)
        customer.update(values)
        apply_metadata(customer, metadata)
        previous = {k: v for k, v in before.items() if customer.get(k) != v}
        if "metadata" in previous:
            # Like Stripe: only the keys that changed, with their old value (null for keys that are new).
            old, new = before["metadata"], customer["metadata"]
            previous["metadata"] = {k: old.get(k) for k in old.keys() | new.keys() if old.get(k) != new.get(k)}
        if previous:
            self.emit("customer.updated", customer, previous)
        return self.render(customer, p.expand())

    def list_customers(self, p: Params) -> Obj:
        p.allow(("created", "email", "ending_before", "expand", "limit", "starting_after"))
        email = p.string("email")
        rows = [c for c in self.objects["customer"].values() if email is None or c["email"] == email]
        return self.page(rows, p, "/v1/customers", "customer")

    # ------------------------------------------------------------------------------------- payment methods

    def _resolve_payment_method(self, token: str, *, param: str = "payment_method") -> Obj:
        """A stored `pm_...`, or a test token such as `pm_card_visa`, which (as on Stripe) mints a new one."""
        if token not in TEST_CARDS:
            return self.get("payment_method", token, param=param, status=400)
        return self._mint_card(token, 12, self._clock().year + 1, token)

    def _mint_card(
        self, token: str, exp_month: int, exp_year: int, fingerprint_of: str, billing_details: Obj | None = None
    ) -> Obj:
        """A new card PaymentMethod that behaves like the test token `token`."""
        card = TEST_CARDS[token]
        details: Obj = {
            "address": {k: None for k in ("city", "country", "line1", "line2", "postal_code", "state")},
            "email": None,
            "name": None,
            "phone": None,
            "tax_id": None,
        }
        for key, value in (billing_details or {}).items():
            if key == "address" and isinstance(value, dict):
                details["address"].update({k: v or None for k, v in value.items() if k in details["address"]})
            elif key in details and isinstance(value, str):
                details[key] = value or None
        pm = {
            "id": new_id("pm"),
            "object": "payment_method",
            "allow_redisplay": "unspecified",
            "billing_details": details,
            "card": {
                "brand": card.brand,
                "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "pass"},
                "country": "US",
                "display_brand": card.brand,
                "exp_month": exp_month,
                "exp_year": exp_year,
                "fingerprint": hashlib.sha256(fingerprint_of.encode()).hexdigest()[:16],
                "funding": card.funding,
                "generated_from": None,
                "last4": card.last4,
                "networks": {"available": [card.brand], "preferred": None},
                "regulated_status": "unregulated",
                "three_d_secure_usage": {"supported": True},
                "wallet": None,
            },
            "created": self.now(),
            "customer": None,
            "livemode": False,
            "metadata": {},
            "type": "card",
            "_card": token,
            "_consumed": False,
        }
        return self._add(pm)

    def _card_from_details(self, p: Params) -> Obj:
        """`type=card` + `card[number|exp_month|exp_year|cvc]` (+ `billing_details`), as Stripe.js sends them from the
        Payment Element: checked like Stripe checks them (402 card_error naming the param) and mapped to the test
        card the number stands for. Raw numbers are a publishable-key privilege, as on a default Stripe account."""
        if not self.request.publishable:
            raise invalid(RAW_CARD_REFUSED, param=p.qualified("card") + "[number]")
        p.allow(("type", "card", "billing_details", "metadata", "allow_redisplay"))
        p.enum("type", ("card",), required=True)
        card = p.nested("card", ("number", "exp_month", "exp_year", "cvc"))
        if card is None:
            raise invalid(
                f"Missing required param: {p.qualified('card')}.", param=p.qualified("card"), code="parameter_missing"
            )
        number = re.sub(r"[\s-]", "", card.string("number", required=True) or "")
        exp_month = card.integer("exp_month", required=True)
        exp_year = card.integer("exp_year", required=True)
        cvc = card.string("cvc") or ""
        assert exp_month is not None and exp_year is not None

        def card_error(message: str, code: str, param: str) -> StripeError:
            return StripeError(402, "card_error", message, code=code, param=card.qualified(param), saved=False)

        if not number.isdigit() or not 12 <= len(number) <= 19 or not luhn_valid(number):
            raise card_error("Your card number is incorrect.", "incorrect_number", "number")
        if not 1 <= exp_month <= 12:
            raise card_error("Your card's expiration month is invalid.", "invalid_expiry_month", "exp_month")
        exp_year += 2000 if exp_year < 100 else 0
        today = self._clock()
        if (exp_year, exp_month) < (today.year, today.month) or exp_year > today.year + 50:
            raise card_error("Your card's expiration year is invalid.", "invalid_expiry_year", "exp_year")
        if cvc and not re.fullmatch(r"\d{3,4}", cvc):
            raise card_error("Your card's security code is invalid.", "invalid_cvc", "cvc")
        token = CARD_NUMBERS.get(number)
        if token is None:
            raise StripeError(
                402,
                "card_error",
                "Your card was declined. Your request was in test mode, but used a non test (live) card. For a list "
                "of valid test cards, visit: https://stripe.com/docs/testing.",
                code="card_declined",
                decline_code="test_mode_live_card",
                saved=False,
            )
        pm = self._mint_card(token, exp_month, exp_year, number, p.dictionary("billing_details"))
        apply_metadata(pm, p.metadata())
        return pm

    def create_payment_method(self, p: Params) -> Obj:
        """`POST /v1/payment_methods` with card details (what Stripe.js does with the Payment Element's input)."""
        p.allow(("type", "card", "billing_details", "metadata", "allow_redisplay", "expand"))
        expand = p.expand()
        pm = self._card_from_details(Params({k: v for k, v in p.raw.items() if k != "expand"}))
        return self.render(pm, expand)

    def _card(self, pm: Obj) -> TestCard:
        return TEST_CARDS[pm["_card"]]

    def _attach(self, pm: Obj, customer: Obj) -> None:
        if pm["customer"] == customer["id"]:
            return
        self._check_attachable(pm)
        pm["customer"] = customer["id"]
        self.emit("payment_method.attached", pm)

    def _check_attachable(self, pm: Obj) -> None:
        if pm["customer"] is not None:
            raise invalid(
                "The payment method you provided has already been attached to a customer.",
                param="payment_method",
                saved=True,
            )
        self._check_reusable(pm)
        card = self._card(pm)
        if card.attach_fails:
            raise StripeError(
                402, "card_error", card.message or _DECLINED, code=card.code, decline_code=card.decline_code
            )

    def _check_reusable(self, pm: Obj) -> None:
        if pm["_consumed"] and pm["customer"] is None:
            raise invalid(
                "This PaymentMethod was previously used without being attached to a Customer or was detached from "
                "a Customer, and may not be used again.",
                param="payment_method",
                saved=True,
            )

    def retrieve_payment_method(self, p: Params, pm_id: str) -> Obj:
        p.allow(("expand",))
        pm = self._resolve_payment_method(pm_id) if pm_id in TEST_CARDS else self.get("payment_method", pm_id)
        return self.render(pm, p.expand())

    def attach_payment_method(self, p: Params, pm_id: str) -> Obj:
        p.allow(("customer", "expand"))
        customer_id = p.string("customer", required=True)
        assert customer_id is not None
        customer = self.get("customer", customer_id, param="customer", status=400)
        pm = self._resolve_payment_method(pm_id) if pm_id in TEST_CARDS else self.get("payment_method", pm_id)
        self._attach(pm, customer)
        return self.render(pm, p.expand())

    def detach_payment_method(self, p: Params, pm_id: str) -> Obj:
        p.allow(("expand",))
        pm = self.get("payment_method", pm_id)
        if pm["customer"] is None:
            raise invalid(
                "The payment method you provided is not attached to a customer so detachment is impossible.",
                param="payment_method",
                saved=True,
            )
        pm["customer"], pm["_consumed"] = None, True  # a detached PaymentMethod can never be used again
        self.emit("payment_method.detached", pm)
        return self.render(pm, p.expand())

    def list_customer_payment_methods(self, p: Params, customer_id: str) -> Obj:
        p.allow(("type", "ending_before", "expand", "limit", "starting_after", "allow_redisplay"))
        self.get("customer", customer_id)
        kind = p.string("type")
        rows = [
            pm
            for pm in self.objects["payment_method"].values()
            if pm["customer"] == customer_id and kind in (None, pm["type"])
        ]
        return self.page(rows, p, f"/v1/customers/{customer_id}/payment_methods", "payment_method")

    # ------------------------------------------------------------------------------------- payment intents

    # Accepted because they only describe the payment; the double stores or ignores them without changing flow.
    _PI_DESCRIPTIVE = (
        "description",
        "receipt_email",
        "shipping",
        "statement_descriptor",
        "statement_descriptor_suffix",
        "payment_method_options",
        "return_url",
        "use_stripe_sdk",
        "mandate_data",
        "radar_options",
        "metadata",
        "expand",
    )
    _CONFIRM_FLOW = (
        "payment_method",
        "off_session",
        "error_on_requires_action",
        "setup_future_usage",
        "capture_method",
        "payment_method_types",
    )

    def create_payment_intent(self, p: Params) -> Obj:
        p.allow(
            self._PI_DESCRIPTIVE,
            self._CONFIRM_FLOW,
            (
                "amount",
                "currency",
                "customer",
                "confirm",
                "transfer_group",
                "automatic_payment_methods",
                "confirmation_method",
            ),
        )
        amount, currency = self._amount(p)
        customer_id = p.string("customer")
        if customer_id:
            self.get("customer", customer_id, param="customer", status=400)
        confirm = bool(p.boolean("confirm"))
        auto = p.nested("automatic_payment_methods", ("enabled", "allow_redirects"))
        types = p.strings("payment_method_types")
        if auto is not None and types is not None:
            raise invalid(
                "You may only specify one of these parameters: automatic_payment_methods, payment_method_types.",
                param="automatic_payment_methods",
            )
        automatic = None if types else {"allow_redirects": "always", "enabled": True}
        if auto is not None:
            enabled = auto.boolean("enabled")
            redirects = auto.enum("allow_redirects", ("always", "never")) or "always"
            automatic = {"allow_redirects": redirects, "enabled": True} if enabled is not False else None
        capture = p.enum("capture_method", ("automatic", "automatic_async", "manual")) or "automatic_async"
        sfu = p.enum("setup_future_usage", ("off_session", "on_session"))
        flow = self._confirm_options(p)
        if flow["off_session"] and not confirm:
            raise invalid("You can only specify `off_session` when `confirm` is set to true.", param="off_session")
        p.enum("confirmation_method", ("automatic", "manual"))
        metadata = p.metadata()
        pm = self._resolve_payment_method(flow["payment_method"]) if flow["payment_method"] else None
        if confirm:
            self._check_confirmable(customer_id, sfu, pm, flow)
        now = self.now()
        pi_id = new_id("pi")
        pi: Obj = {
            "id": pi_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_details": {"tip": {}},
            "amount_received": 0,
            "application": None,
            "application_fee_amount": None,
            "automatic_payment_methods": automatic,
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": capture,
            "client_secret": f"{pi_id}_secret_{random_text(25)}",
            "confirmation_method": p.string("confirmation_method") or "automatic",
            "created": now,
            "currency": currency,
            "customer": customer_id,
            "description": p.string("description"),
            "excluded_payment_method_types": None,
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": False,
            "metadata": {},
            "next_action": None,
            "on_behalf_of": None,
            "payment_method": None,
            "payment_method_configuration_details": None,
            "payment_method_options": {
                "card": {
                    "installments": None,
                    "mandate_options": None,
                    "network": None,
                    "request_three_d_secure": "automatic",
                }
            },
            "payment_method_types": types or ["card"],
            "processing": None,
            "receipt_email": p.string("receipt_email"),
            "review": None,
            "setup_future_usage": sfu,
            "shipping": p.dictionary("shipping"),
            "source": None,
            "statement_descriptor": p.string("statement_descriptor"),
            "statement_descriptor_suffix": p.string("statement_descriptor_suffix"),
            "status": "requires_payment_method",
            "transfer_data": None,
            "transfer_group": p.string("transfer_group"),
        }
        apply_metadata(pi, metadata)
        if pm is not None:
            pi["payment_method"], pi["status"] = pm["id"], "requires_confirmation"
        self._add(pi)
        self.emit("payment_intent.created", pi)
        if confirm:
            if pm is None:
                raise unexpected_state(
                    "You cannot confirm this PaymentIntent because it's missing a payment method. To confirm the "
                    "PaymentIntent, pass a `payment_method`.",
                    param="payment_method",
                    payment_intent=public(pi),
                )
            self._confirm(pi, pm, flow)
        return self.render(pi, p.expand())

    def _amount(self, p: Params) -> tuple[int, str]:
        amount = p.integer("amount", required=True, minimum=1)
        currency = (p.string("currency", required=True) or "").lower()
        assert amount is not None
        if currency not in SUPPORTED_CURRENCIES:
            raise invalid(
                f"Invalid currency: {currency}. Stripe currently supports these currencies: "
                + ", ".join(sorted(SUPPORTED_CURRENCIES)),
                param="currency",
            )
        minimum = MINIMUM_AMOUNT.get(currency, 1)
        if amount < minimum:
            raise invalid(
                f"Amount must be at least {format_amount(minimum, currency)} {currency}",
                param="amount",
                code="amount_too_small",
            )
        if amount > MAX_AMOUNT:
            raise invalid(
                f"Amount must be no more than {format_amount(MAX_AMOUNT, currency)}",
                param="amount",
                code="amount_too_large",
            )
        return amount, currency

    def _confirm_options(self, p: Params) -> Obj:
        off_session = p.string("off_session")
        if off_session not in (None, "true", "false", "one_off", "recurring"):
            raise invalid(f"Invalid boolean: {off_session}", param="off_session")
        return {
            "payment_method": p.string("payment_method"),
            "off_session": off_session not in (None, "false"),
            "error_on_requires_action": bool(p.boolean("error_on_requires_action")),
        }

    def retrieve_payment_intent(self, p: Params, pi_id: str) -> Obj:
        p.allow(("expand", "client_secret"))
        pi = self._get_for_client(p, pi_id)
        return self.render(pi, self._client_expand(p))

    def _get_for_client(self, p: Params, pi_id: str) -> Obj:
        """The PaymentIntent, checking `client_secret` when given, and requiring it from a publishable key (which
        must not even learn whether another PaymentIntent exists)."""
        secret = p.string("client_secret")
        pi = self.objects["payment_intent"].get(pi_id)
        if pi is None or (self.request.publishable and secret is None):
            raise missing("payment_intent", pi_id)
        if secret is not None and secret != pi["client_secret"]:
            raise invalid(
                "The client_secret provided does not match the client_secret associated with the PaymentIntent.",
                param="client_secret",
                code="payment_intent_invalid_parameter",
            )
        return pi

    def _client_expand(self, p: Params) -> list[str]:
        """A publishable key may expand only the PaymentIntent's payment_method (Stripe.js asks for it)."""
        expand = p.expand()
        if self.request.publishable:
            for path in expand:
                if path != "payment_method":
                    raise invalid(f"This property cannot be expanded ({path}).", param="expand")
        return expand

    def list_payment_intents(self, p: Params) -> Obj:
        p.allow(("created", "customer", "ending_before", "expand", "limit", "starting_after"))
        customer = p.string("customer")
        rows = [pi for pi in self.objects["payment_intent"].values() if customer in (None, pi["customer"])]
        return self.page(rows, p, "/v1/payment_intents", "payment_intent")

    def update_payment_intent(self, p: Params, pi_id: str) -> Obj:
        pi = self.get("payment_intent", pi_id)
        money = (
            "amount",
            "currency",
            "customer",
            "payment_method",
            "setup_future_usage",
            "capture_method",
            "payment_method_types",
        )
        p.allow(money, self._PI_DESCRIPTIVE, ("transfer_group",))
        changes: Obj = {}
        if any(p.has(k) for k in money):
            if pi["status"] not in PI_CONFIRMABLE:
                raise unexpected_state(
                    f"You cannot update this PaymentIntent because it has a status of {pi['status']}.",
                    payment_intent=public(pi),
                )
            if p.has("amount") or p.has("currency"):
                merged = Params(
                    {
                        "amount": str(pi["amount"]),
                        "currency": pi["currency"],
                        **{k: p.raw[k] for k in ("amount", "currency") if k in p.raw},
                    }
                )
                changes["amount"], changes["currency"] = self._amount(merged)
            if p.has("customer"):
                customer_id = p.string("customer")
                if customer_id:
                    self.get("customer", customer_id, param="customer", status=400)
                changes["customer"] = customer_id
            if p.has("setup_future_usage"):
                changes["setup_future_usage"] = p.enum("setup_future_usage", ("off_session", "on_session"))
            if p.has("capture_method"):
                changes["capture_method"] = p.enum("capture_method", ("automatic", "automatic_async", "manual"))
            if p.has("payment_method_types"):
                changes["payment_method_types"] = p.strings("payment_method_types") or ["card"]
        for field in (
            "description",
            "receipt_email",
            "statement_descriptor",
            "statement_descriptor_suffix",
            "transfer_group",
        ):
            if p.has(field):
                changes[field] = p.string(field)
        if p.has("shipping"):
            changes["shipping"] = p.dictionary("shipping")
        metadata = p.metadata()
        token = p.string("payment_method")
        pi.update(changes)
        apply_metadata(pi, metadata)
        if token:
            pi["payment_method"] = self._resolve_payment_method(token)["id"]
            pi["status"] = "requires_confirmation"
        return self.render(pi, p.expand())

    def confirm_payment_intent(self, p: Params, pi_id: str) -> Obj:
        if self.request.publishable:
            p.allow(CLIENT_CONFIRM_PARAMS)
        else:
            p.allow(self._PI_DESCRIPTIVE, self._CONFIRM_FLOW, ("client_secret", "payment_method_data"))
        pi = self._get_for_client(p, pi_id)
        if self.request.publishable and pi["confirmation_method"] != "automatic":
            raise invalid(
                "This PaymentIntent has confirmation_method `manual`, so it can only be confirmed with your secret "
                "key from your server, not with a publishable key.",
                code="payment_intent_unexpected_state",
            )
        expand = self._client_expand(p)
        flow = self._confirm_options(p)
        if p.has("payment_method_data") and flow["payment_method"]:
            raise invalid(
                "You may only specify one of these parameters: payment_method, payment_method_data.",
                param="payment_method_data",
            )
        sfu = p.enum("setup_future_usage", ("off_session", "on_session")) if p.has("setup_future_usage") else None
        capture = p.enum("capture_method", ("automatic", "automatic_async", "manual"))
        if pi["status"] not in PI_CONFIRMABLE:
            raise unexpected_state(
                f"You cannot confirm this PaymentIntent because it has a status of {pi['status']}. Only a "
                "PaymentIntent with one of the following statuses may be confirmed: " + ", ".join(PI_CONFIRMABLE) + ".",
                payment_intent=public(pi),
            )
        data = p.dictionary("payment_method_data")
        token = flow["payment_method"] or pi["payment_method"]
        if token is None and data is None:
            raise unexpected_state(
                "You cannot confirm this PaymentIntent because it's missing a payment method. To confirm the "
                "PaymentIntent, pass a `payment_method` or update the PaymentIntent with one first.",
                param="payment_method",
                payment_intent=public(pi),
            )
        if not p.has("setup_future_usage"):
            sfu = pi["setup_future_usage"]
        if data is not None:
            pm = self._card_from_details(Params(data, "payment_method_data"))
        else:
            assert token is not None
            pm = self._resolve_payment_method(token)
        self._check_confirmable(pi["customer"], sfu, pm, flow)
        pi["setup_future_usage"] = sfu
        if capture:
            pi["capture_method"] = capture
        for field in ("receipt_email", "shipping"):
            if p.has(field):
                pi[field] = p.raw[field] or None
        self._confirm(pi, pm, flow)
        return self.render(pi, expand)

    def _check_confirmable(self, customer_id: str | None, sfu: str | None, pm: Obj | None, flow: Obj) -> None:
        """Refusals Stripe makes before it touches the PaymentIntent or the card network."""
        if flow["off_session"] and sfu:
            raise invalid(
                "You cannot confirm with the `off_session` parameter when `setup_future_usage` is also "
                "set on the PaymentIntent because you cannot set up future usages when processing "
                "payments off-session.",
                param="off_session",
            )
        if pm is None:
            return
        self._check_reusable(pm)
        if pm["customer"] is not None and pm["customer"] != customer_id:
            raise invalid(
                f"The provided PaymentMethod ({pm['id']}) is attached to Customer {pm['customer']}; pass that "
                f"Customer as `customer` on the PaymentIntent to use it.",
                param="payment_method",
            )

    def _confirm(self, pi: Obj, pm: Obj, flow: Obj) -> None:
        """Run a confirmation: success, a 3DS step, or a decline (raised as a 402 after the state is saved)."""
        off_session = flow["off_session"]
        pi["payment_method"] = pm["id"]
        card = self._card(pm)
        outcome = card.outcome
        if outcome == "auth_on_setup":
            # Authentication was done when the card was saved; off-session reuse of a saved card then works.
            outcome = "succeed" if off_session and pm["customer"] else "auth_required"
        if outcome == "auth_required":
            if off_session or flow["error_on_requires_action"]:
                self._decline(pi, pm, _AUTH_REQUIRED)
            # The customer authenticates in the browser: Stripe.js follows `use_stripe_sdk`, here to the double's
            # stand-in of the hooks.stripe.com test page (`authenticate_three_d_secure`) for this source.
            source = new_id("src")
            pi.update(
                status="requires_action",
                last_payment_error=None,
                next_action={
                    "type": "use_stripe_sdk",
                    "use_stripe_sdk": {
                        "type": "stripe_3ds2_fingerprint",
                        "directory_server_name": card.brand,
                        "server_transaction_id": random_text(36),
                        "three_d_secure_2_source": source,
                        "source": source,
                    },
                },
                _three_d_secure_source=source,
            )
            self.emit("payment_intent.requires_action", pi)
            return
        if outcome == "decline":
            self._decline(pi, pm, card)
        self._succeed(pi, pm)
        if outcome == "dispute":
            self.create_dispute(pi["latest_charge"], reason="fraudulent")

    def _decline(self, pi: Obj, pm: Obj, card: TestCard) -> None:
        charge = self._new_charge(pi, pm, failure=card)
        pm["_consumed"] = pm["customer"] is None
        error: Obj = {
            "charge": charge["id"],
            "code": card.code,
            "decline_code": card.decline_code,
            "doc_url": f"https://stripe.com/docs/error-codes/{(card.code or '').replace('_', '-')}",
            "message": card.message,
            "payment_method": public(pm),
            "type": "card_error",
        }
        pi.update(
            status="requires_payment_method",
            payment_method=None,
            next_action=None,
            last_payment_error=error,
            latest_charge=charge["id"],
        )
        self.emit("charge.failed", charge)
        self.emit("payment_intent.payment_failed", pi)
        raise StripeError(
            402,
            "card_error",
            card.message or _DECLINED,
            code=card.code,
            decline_code=card.decline_code,
            charge=charge["id"],
            payment_intent=public(pi),
            payment_method=public(pm),
        )

    def _succeed(self, pi: Obj, pm: Obj) -> None:
        customer = self.objects["customer"].get(pi["customer"] or "")
        if pi["setup_future_usage"] and customer is not None and pm["customer"] is None:
            pm["customer"] = customer["id"]
            self.emit("payment_method.attached", pm)
        elif pm["customer"] is None and not pi["setup_future_usage"]:
            pm["_consumed"] = True  # single-use: Stripe refuses to reuse an unattached PaymentMethod
        manual = pi["capture_method"] == "manual"
        charge = self._new_charge(pi, pm)
        if manual:
            charge.update(captured=False, amount_captured=0, balance_transaction=None)
        pi.update(payment_method=pm["id"], last_payment_error=None, next_action=None, latest_charge=charge["id"])
        self.emit("charge.succeeded", charge)
        if manual:
            pi.update(status="requires_capture", amount_capturable=pi["amount"])
            self.emit("payment_intent.amount_capturable_updated", pi)
        else:
            pi.update(status="succeeded", amount_received=pi["amount"], amount_capturable=0)
            self.emit("payment_intent.succeeded", pi)

    def _new_charge(self, pi: Obj, pm: Obj, failure: TestCard | None = None) -> Obj:
        card = self._card(pm)
        ok = failure is None
        outcome = {
            "advice_code": None,
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "approved_by_network" if ok else "declined_by_network",
            "reason": None if ok else failure.decline_code,
            "risk_level": "normal",
            "risk_score": 32,
            "seller_message": "Payment complete."
            if ok
            else "The bank did not return any further details with this decline.",
            "type": "authorized" if ok else "issuer_declined",
        }
        charge = {
            "id": new_id("ch"),
            "object": "charge",
            "amount": pi["amount"],
            "amount_captured": pi["amount"] if ok else 0,
            "amount_refunded": 0,
            "application": None,
            "application_fee": None,
            "application_fee_amount": None,
            "balance_transaction": new_id("txn") if ok else None,
            "billing_details": copy.deepcopy(pm["billing_details"]),
            "calculated_statement_descriptor": "STRIPE",
            "captured": ok,
            "created": self.now(),
            "currency": pi["currency"],
            "customer": pi["customer"],
            "description": pi["description"],
            "disputed": False,
            "failure_balance_transaction": None,
            "failure_code": None if ok else failure.code,
            "failure_message": None if ok else failure.message,
            "fraud_details": {},
            "livemode": False,
            "metadata": dict(pi["metadata"]),
            "on_behalf_of": None,
            "outcome": outcome,
            "paid": ok,
            "payment_intent": pi["id"],
            "payment_method": pm["id"],
            "payment_method_details": {
                "card": {
                    "amount_authorized": pi["amount"] if ok else None,
                    "brand": card.brand,
                    "checks": dict(pm["card"]["checks"]),
                    "country": "US",
                    "exp_month": pm["card"]["exp_month"],
                    "exp_year": pm["card"]["exp_year"],
                    "fingerprint": pm["card"]["fingerprint"],
                    "funding": card.funding,
                    "last4": card.last4,
                    "mandate": None,
                    "network": card.brand,
                    "network_transaction_id": random_text(15, string.digits),
                    "three_d_secure": None,
                    "wallet": None,
                },
                "type": "card",
            },
            "receipt_email": pi["receipt_email"],
            "receipt_number": None,
            "receipt_url": f"https://pay.stripe.com/receipts/payment/{random_text(40)}",
            "refunded": False,
            "review": None,
            "shipping": pi["shipping"],
            "source": None,
            "source_transfer": None,
            "statement_descriptor": pi["statement_descriptor"],
            "statement_descriptor_suffix": pi["statement_descriptor_suffix"],
            "status": "succeeded" if ok else "failed",
            "transfer_data": None,
            "transfer_group": pi["transfer_group"],
        }
        return self._add(charge)

    def cancel_payment_intent(self, p: Params, pi_id: str) -> Obj:
        pi = self.get("payment_intent", pi_id)
        p.allow(("cancellation_reason", "expand"))
        reason = p.enum("cancellation_reason", CANCELLATION_REASONS)
        if pi["status"] not in PI_CANCELABLE:
            raise unexpected_state(
                f"You cannot cancel this PaymentIntent because it has a status of {pi['status']}. Only a "
                "PaymentIntent with one of the following statuses may be canceled: " + ", ".join(PI_CANCELABLE) + ".",
                payment_intent=public(pi),
            )
        if pi["status"] == "requires_capture":
            # Releasing an authorisation marks the uncaptured charge as refunded.
            charge = self.objects["charge"][pi["latest_charge"]]
            charge.update(amount_refunded=charge["amount"], refunded=True)
            self.emit("charge.refunded", charge)
        pi.update(
            status="canceled", canceled_at=self.now(), cancellation_reason=reason, amount_capturable=0, next_action=None
        )
        self.emit("payment_intent.canceled", pi)
        return self.render(pi, p.expand())

    def capture_payment_intent(self, p: Params, pi_id: str) -> Obj:
        pi = self.get("payment_intent", pi_id)
        p.allow(
            (
                "amount_to_capture",
                "expand",
                "metadata",
                "statement_descriptor",
                "statement_descriptor_suffix",
                "final_capture",
            )
        )
        amount = p.integer("amount_to_capture", minimum=1)
        metadata = p.metadata()
        if pi["status"] != "requires_capture":
            raise unexpected_state(
                f"This PaymentIntent could not be captured because it has a status of {pi['status']}. Only a "
                "PaymentIntent with one of the following statuses may be captured: requires_capture.",
                payment_intent=public(pi),
            )
        amount = pi["amount_capturable"] if amount is None else amount
        if amount > pi["amount_capturable"]:
            raise invalid(
                f"The amount to capture ({amount}) is greater than the amount capturable ({pi['amount_capturable']}).",
                param="amount_to_capture",
                code="amount_too_large",
                saved=True,
            )
        charge = self.objects["charge"][pi["latest_charge"]]
        # Stripe releases the uncaptured remainder, which shows up as refunded on the charge.
        charge.update(
            captured=True,
            amount_captured=amount,
            amount_refunded=charge["amount"] - amount,
            balance_transaction=new_id("txn"),
        )
        apply_metadata(pi, metadata)
        pi.update(status="succeeded", amount_received=amount, amount_capturable=0)
        self.emit("charge.captured", charge)
        self.emit("payment_intent.succeeded", pi)
        return self.render(pi, p.expand())

    def authenticate_three_d_secure(self, p: Params, source_id: str, outcome: str) -> Obj:
        """The double's stand-in of Stripe's 3-D Secure test page (hooks.stripe.com/3d_secure_2_test/...): the
        customer completes or fails the authentication of a PaymentIntent in requires_action. Completing confirms
        it (succeeded, or requires_capture); failing sends it back to requires_payment_method with
        `payment_intent_authentication_failure`, as Stripe does. Answers the PaymentIntent."""
        p.allow(("client_secret", "expand"))
        pi = next(
            (pi for pi in self.objects["payment_intent"].values() if pi.get("_three_d_secure_source") == source_id),
            None,
        )
        p.string("client_secret", required=True)
        if pi is None:
            raise missing("source", source_id)
        self._get_for_client(p, pi["id"])
        if outcome not in ("complete", "fail"):
            raise StripeError(
                404, "invalid_request_error", f"Unknown 3-D Secure outcome {outcome!r}: complete or fail."
            )
        if pi["status"] != "requires_action":
            raise unexpected_state(
                f"This PaymentIntent's authentication cannot be {'completed' if outcome == 'complete' else 'failed'} "
                f"because it has a status of {pi['status']}.",
                payment_intent=public(pi),
            )
        pm = self.objects["payment_method"][pi["payment_method"]]
        if outcome == "complete":
            self._succeed(pi, pm)
        else:
            pm["_consumed"] = pm["customer"] is None
            pi.update(
                status="requires_payment_method",
                payment_method=None,
                next_action=None,
                last_payment_error={
                    "code": "payment_intent_authentication_failure",
                    "doc_url": "https://stripe.com/docs/error-codes/payment-intent-authentication-failure",
                    "message": AUTHENTICATION_FAILED,
                    "payment_method": public(pm),
                    "type": "invalid_request_error",
                },
            )
            self.emit("payment_intent.payment_failed", pi)
        return self.render(pi, self._client_expand(p))

    def force_succeed(self, pi_id: str) -> Obj:
        """Test control: complete a PaymentIntent as if the customer finished checkout with a Visa card."""
        pi = self.get("payment_intent", pi_id)
        if pi["status"] not in PI_CONFIRMABLE:
            raise unexpected_state(f"PaymentIntent {pi_id} has status {pi['status']} and cannot succeed.")
        pm = self.objects["payment_method"].get(pi["payment_method"] or "")
        if pm is None or self._card(pm).outcome not in ("succeed", "auth_required", "auth_on_setup"):
            pm = self._resolve_payment_method("pm_card_visa")
        self._succeed(pi, pm)
        return public(pi)

    # --------------------------------------------------------------------------------------------- charges

    def retrieve_charge(self, p: Params, charge_id: str) -> Obj:
        p.allow(("expand",))
        return self.render(self.get("charge", charge_id), p.expand())

    def list_charges(self, p: Params) -> Obj:
        p.allow(
            (
                "created",
                "customer",
                "ending_before",
                "expand",
                "limit",
                "payment_intent",
                "starting_after",
                "transfer_group",
            )
        )
        wanted = {k: p.string(k) for k in ("customer", "payment_intent", "transfer_group")}
        rows = [c for c in self.objects["charge"].values() if all(v is None or c[k] == v for k, v in wanted.items())]
        return self.page(rows, p, "/v1/charges", "charge")

    # --------------------------------------------------------------------------------------------- refunds

    def create_refund(self, p: Params) -> Obj:
        p.allow(
            (
                "amount",
                "charge",
                "payment_intent",
                "reason",
                "metadata",
                "expand",
                "instructions_email",
                "refund_application_fee",
                "reverse_transfer",
            )
        )
        amount = p.integer("amount", minimum=1)
        reason = p.enum("reason", REFUND_REASONS)
        metadata = p.metadata()
        for flag in ("refund_application_fee", "reverse_transfer"):
            if p.boolean(flag):
                raise invalid(
                    f"`{flag}` only applies to charges created with `transfer_data` (destination "
                    "charges); reverse separate transfers with a transfer reversal.",
                    param=flag,
                )
        charge_id, pi_id = p.string("charge"), p.string("payment_intent")
        if charge_id and pi_id:
            raise invalid("You can only specify one of these parameters: charge, payment_intent.", param="charge")
        if pi_id:
            pi = self.get("payment_intent", pi_id, param="payment_intent", status=400)
            if pi["status"] != "succeeded" or pi["latest_charge"] is None:
                raise invalid(
                    f"This PaymentIntent ({pi_id}) does not have a successful charge to refund.",
                    param="payment_intent",
                    saved=True,
                )
            charge = self.objects["charge"][pi["latest_charge"]]
        elif charge_id:
            charge = self.get("charge", charge_id, param="charge", status=400)
        else:
            raise invalid("Missing required param: charge.", param="charge", code="parameter_missing")
        remaining = charge["amount_captured"] - charge["amount_refunded"]
        if charge["status"] != "succeeded" or not charge["captured"]:
            raise invalid(
                f"Charge {charge['id']} cannot be refunded because it has not succeeded.", param="charge", saved=True
            )
        if any(not self._refundable_despite(d) for d in self._disputes_of(charge["id"])):
            raise invalid(
                f"Charge {charge['id']} has been charged back; cannot issue a refund.",
                code="charge_disputed",
                saved=True,
            )
        if remaining <= 0:
            raise invalid(
                f"Charge {charge['id']} has already been refunded.",
                param="charge",
                code="charge_already_refunded",
                saved=True,
            )
        amount = remaining if amount is None else amount
        if amount > remaining:
            raise invalid(
                f"Refund amount ({format_amount(amount, charge['currency'])}) is greater than unrefunded amount on "
                f"charge ({format_amount(remaining, charge['currency'])})",
                param="amount",
                code="amount_too_large",
                saved=True,
            )
        refund = {
            "id": new_id("re"),
            "object": "refund",
            "amount": amount,
            "balance_transaction": new_id("txn"),
            "charge": charge["id"],
            "created": self.now(),
            "currency": charge["currency"],
            "description": None,
            "destination_details": {
                "card": {
                    "reference_status": "pending",
                    "reference_type": "acquirer_reference_number",
                    "type": "refund",
                },
                "type": "card",
            },
            "failure_balance_transaction": None,
            "failure_reason": None,
            "instructions_email": p.string("instructions_email"),
            "metadata": {},
            "next_action": None,
            "payment_intent": charge["payment_intent"],
            "pending_reason": None,
            "reason": reason,
            "receipt_number": None,
            "source_transfer_reversal": None,
            "status": "succeeded",
            "transfer_reversal": None,
        }
        apply_metadata(refund, metadata)
        self._add(refund)
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount_captured"]
        self.emit("refund.created", refund)
        self.emit("charge.refunded", charge)
        return self.render(refund, p.expand())

    def dashboard_refund(
        self, *, payment_intent: str | None = None, charge: str | None = None, amount: int | None = None
    ) -> Obj:
        """Test control: a person refunds in the Stripe Dashboard. The same rules and events as `POST /v1/refunds`,
        without our metadata (the caller sets `request` to a dashboard request without an idempotency key)."""
        raw: Obj = {k: v for k, v in (("payment_intent", payment_intent), ("charge", charge)) if v is not None}
        if amount is not None:
            raw["amount"] = str(amount)
        return self.create_refund(Params(raw))

    def fail_refund(self, refund_id: str, failure_reason: str = "expired_or_canceled_card") -> Obj:
        """Test control: the card network returns a refund later (closed card...). The money is back on our
        balance: the refund's amount no longer counts in the charge's `amount_refunded`."""
        refund = self.get("refund", refund_id)
        if failure_reason not in REFUND_FAILURE_REASONS:
            raise invalid(
                f"Invalid failure_reason: must be one of {', '.join(REFUND_FAILURE_REASONS)}", param="failure_reason"
            )
        if refund["status"] not in ("succeeded", "pending"):
            raise invalid(
                f"Refund {refund_id} has a status of {refund['status']}; only a succeeded or pending refund can fail.",
                param="refund",
            )
        previous = {k: refund[k] for k in ("failure_balance_transaction", "failure_reason", "status")}
        refund.update(status="failed", failure_reason=failure_reason, failure_balance_transaction=new_id("txn"))
        charge = self.objects["charge"][refund["charge"]]
        charge["amount_refunded"] = max(0, charge["amount_refunded"] - refund["amount"])
        charge["refunded"] = charge["amount_refunded"] >= charge["amount_captured"]
        self.emit("charge.refund.updated", refund, previous)
        self.emit("refund.updated", refund, previous)
        self.emit("refund.failed", refund)
        return public(refund)

    def retrieve_refund(self, p: Params, refund_id: str) -> Obj:
        p.allow(("expand",))
        return self.render(self.get("refund", refund_id), p.expand())

    def list_refunds(self, p: Params) -> Obj:
        p.allow(("charge", "created", "ending_before", "expand", "limit", "payment_intent", "starting_after"))
        wanted = {k: p.string(k) for k in ("charge", "payment_intent")}
        rows = [r for r in self.objects["refund"].values() if all(v is None or r[k] == v for k, v in wanted.items())]
        return self.page(rows, p, "/v1/refunds", "refund")

    # ------------------------------------------------------------------------------------------- transfers

    def create_transfer(self, p: Params) -> Obj:
        p.allow(
            (
                "amount",
                "currency",
                "description",
                "destination",
                "expand",
                "metadata",
                "source_transaction",
                "source_type",
                "transfer_group",
            )
        )
        amount = p.integer("amount", required=True, minimum=1)
        currency = (p.string("currency", required=True) or "").lower()
        destination = p.string("destination", required=True) or ""
        assert amount is not None
        if currency not in SUPPORTED_CURRENCIES:
            raise invalid(f"Invalid currency: {currency}.", param="currency")
        if not re.fullmatch(r"acct_[A-Za-z0-9]+", destination):
            raise missing("destination", destination, param="destination", status=400)
        source_type = p.enum("source_type", ("bank_account", "card", "fpx")) or "card"
        source_id = p.string("source_transaction")
        metadata = p.metadata()
        if source_id:
            charge = self.get("charge", source_id, param="source_transaction", status=400)
            if charge["status"] != "succeeded" or not charge["captured"]:
                raise invalid(
                    f"The source_transaction {source_id} has not succeeded.", param="source_transaction", saved=True
                )
            if charge["currency"] != currency:
                raise invalid(
                    f"The currency of source_transaction's balance transaction ({charge['currency']}) "
                    f"must be the same as the transfer currency ({currency}).",
                    param="currency",
                )
            used = sum(t["amount"] for t in self.objects["transfer"].values() if t["source_transaction"] == source_id)
            available = charge["amount_captured"] - charge["amount_refunded"] - used
            if amount > available:
                raise invalid(
                    f"Transfers using this transaction as a source must not exceed the source amount of "
                    f"{format_amount(available, currency)}.",
                    param="amount",
                    code="balance_insufficient",
                    saved=True,
                )
        transfer_id = new_id("tr")
        transfer = {
            "id": transfer_id,
            "object": "transfer",
            "amount": amount,
            "amount_reversed": 0,
            "balance_transaction": new_id("txn"),
            "created": self.now(),
            "currency": currency,
            "description": p.string("description"),
            "destination": destination,
            "destination_payment": new_id("py"),
            "livemode": False,
            "metadata": {},
            "reversals": {
                "object": "list",
                "data": [],
                "has_more": False,
                "total_count": 0,
                "url": f"/v1/transfers/{transfer_id}/reversals",
            },
            "reversed": False,
            "source_transaction": source_id,
            "source_type": source_type,
            "transfer_group": p.string("transfer_group"),
        }
        apply_metadata(transfer, metadata)
        self._add(transfer)
        self.emit("transfer.created", transfer)
        return self.render(transfer, p.expand())

    def retrieve_transfer(self, p: Params, transfer_id: str) -> Obj:
        p.allow(("expand",))
        return self.render(self.get("transfer", transfer_id), p.expand())

    def list_transfers(self, p: Params) -> Obj:
        p.allow(("created", "destination", "ending_before", "expand", "limit", "starting_after", "transfer_group"))
        wanted = {k: p.string(k) for k in ("destination", "transfer_group")}
        rows = [t for t in self.objects["transfer"].values() if all(v is None or t[k] == v for k, v in wanted.items())]
        return self.page(rows, p, "/v1/transfers", "transfer")

    def create_reversal(self, p: Params, transfer_id: str) -> Obj:
        transfer = self.get("transfer", transfer_id)
        p.allow(("amount", "description", "expand", "metadata", "refund_application_fee"))
        amount = p.integer("amount", minimum=1)
        p.boolean("refund_application_fee")
        metadata = p.metadata()
        remaining = transfer["amount"] - transfer["amount_reversed"]
        if remaining <= 0:
            raise invalid(f"Transfer {transfer_id} has already been fully reversed.", param="amount", saved=True)
        amount = remaining if amount is None else amount
        if amount > remaining:
            raise invalid(
                f"You have requested to reverse {format_amount(amount, transfer['currency'])}, which is greater than "
                f"the unreversed amount on this transfer ({format_amount(remaining, transfer['currency'])}).",
                param="amount",
                code="amount_too_large",
                saved=True,
            )
        reversal = {
            "id": new_id("trr"),
            "object": "transfer_reversal",
            "amount": amount,
            "balance_transaction": new_id("txn"),
            "created": self.now(),
            "currency": transfer["currency"],
            "destination_payment_refund": new_id("pyr"),
            "metadata": {},
            "source_refund": None,
            "transfer": transfer_id,
        }
        apply_metadata(reversal, metadata)
        self._add(reversal)
        transfer["amount_reversed"] += amount
        transfer["reversed"] = transfer["amount_reversed"] >= transfer["amount"]
        self._refresh_reversals(transfer)
        self.emit("transfer.reversed", transfer)
        return self.render(reversal, p.expand())

    def _refresh_reversals(self, transfer: Obj) -> None:
        rows = sorted(
            (r for r in self.objects["transfer_reversal"].values() if r["transfer"] == transfer["id"]),
            key=lambda r: (r["created"], r["_seq"]),
            reverse=True,
        )
        transfer["reversals"].update(
            data=[public(r) for r in rows[:10]], has_more=len(rows) > 10, total_count=len(rows)
        )

    def list_reversals(self, p: Params, transfer_id: str) -> Obj:
        self.get("transfer", transfer_id)
        p.allow(("ending_before", "expand", "limit", "starting_after"))
        rows = [r for r in self.objects["transfer_reversal"].values() if r["transfer"] == transfer_id]
        return self.page(rows, p, f"/v1/transfers/{transfer_id}/reversals", "transfer_reversal")

    def retrieve_reversal(self, p: Params, transfer_id: str, reversal_id: str) -> Obj:
        p.allow(("expand",))
        reversal = self.get("transfer_reversal", reversal_id)
        if reversal["transfer"] != transfer_id:
            raise missing("transfer_reversal", reversal_id)
        return self.render(reversal, p.expand())

    # -------------------------------------------------------------------------------------------- disputes

    def create_dispute(self, charge_id: str, *, amount: int | None = None, reason: str = "fraudulent") -> Obj:
        """Test control: the cardholder disputes a charge (Stripe's `pm_card_createDispute` does this itself)."""
        charge = self.get("charge", charge_id)
        if charge["status"] != "succeeded":
            raise invalid(f"Charge {charge_id} has not succeeded and cannot be disputed.")
        if reason not in DISPUTE_REASONS:
            raise invalid(f"Invalid reason: {reason}", param="reason")
        now = self.now()
        dispute = {
            "id": new_id("dp"),
            "object": "dispute",
            "amount": charge["amount"] if amount is None else amount,
            "balance_transactions": [],
            "charge": charge_id,
            "created": now,
            "currency": charge["currency"],
            "enhanced_eligibility_types": [],
            "evidence": {
                k: None
                for k in (
                    "customer_email_address",
                    "customer_name",
                    "product_description",
                    "receipt",
                    "refund_policy",
                    "service_date",
                    "uncategorized_text",
                )
            },
            "evidence_details": {
                "due_by": now + 7 * 86400,
                "enhanced_eligibility": {},
                "has_evidence": False,
                "past_due": False,
                "submission_count": 0,
            },
            "is_charge_refundable": False,
            "livemode": False,
            "metadata": {},
            "network_reason_code": "10.4",
            "payment_intent": charge["payment_intent"],
            "payment_method_details": {
                "card": {
                    "brand": charge["payment_method_details"]["card"]["brand"],
                    "case_type": "chargeback",
                    "network_reason_code": "10.4",
                },
                "type": "card",
            },
            "reason": reason,
            "status": "needs_response",
        }
        self._add(dispute)
        charge["disputed"] = True
        self.emit("charge.dispute.created", dispute)
        # A chargeback (not an inquiry) takes the disputed amount from the balance at once.
        dispute["balance_transactions"].append(self._dispute_funds(dispute, -dispute["amount"], "withdrawal"))
        self.emit("charge.dispute.funds_withdrawn", dispute)
        return public(dispute)

    def _dispute_funds(self, dispute: Obj, amount: int, kind: str) -> Obj:
        """The balance transaction of a chargeback withdrawal or reinstatement (no dispute fee is modelled)."""
        now = self.now()
        return {
            "id": new_id("txn"),
            "object": "balance_transaction",
            "amount": amount,
            "available_on": now,
            "balance_type": "payments",
            "created": now,
            "currency": dispute["currency"],
            "description": f"Chargeback {kind} for {dispute['charge']}",
            "exchange_rate": None,
            "fee": 0,
            "fee_details": [],
            "net": amount,
            "reporting_category": "dispute" if amount < 0 else "dispute_reversal",
            "source": dispute["id"],
            "status": "available",
            "type": "adjustment",
        }

    def _disputes_of(self, charge_id: str) -> list[Obj]:
        return [d for d in self.objects["dispute"].values() if d["charge"] == charge_id]

    @staticmethod
    def _refundable_despite(dispute: Obj) -> bool:
        """Stripe refuses to refund a charged-back charge unless the dispute allows it or went our way."""
        return dispute["is_charge_refundable"] or dispute["status"] in ("won", "warning_closed")

    def close_dispute(self, p: Params, dispute_id: str) -> Obj:
        """`POST /v1/disputes/{id}/close`: the merchant accepts the dispute (lost; an inquiry is simply closed)."""
        dispute = self.get("dispute", dispute_id)
        p.allow(("expand",))
        self._close_dispute(dispute, "warning_closed" if dispute["status"].startswith("warning_") else "lost")
        return self.render(dispute, p.expand())

    def settle_dispute(self, dispute_id: str, status: str) -> Obj:
        """Test control: the card network decides the dispute, `won` (funds reinstated) or `lost`."""
        if status not in ("won", "lost"):
            raise invalid(f"Invalid status: must be one of won, or lost (not {status!r})", param="status")
        dispute = self.get("dispute", dispute_id)
        self._close_dispute(dispute, status)
        return public(dispute)

    def _close_dispute(self, dispute: Obj, status: str) -> None:
        if dispute["status"] in DISPUTE_CLOSED:
            raise invalid(
                f"This dispute ({dispute['id']}) is already closed with a status of {dispute['status']} and cannot "
                "be changed.",
                saved=True,
            )
        dispute["status"] = status
        won = status == "won"
        if won:
            dispute["balance_transactions"].append(self._dispute_funds(dispute, dispute["amount"], "reversal"))
        self.emit("charge.dispute.closed", dispute)
        if won:
            self.emit("charge.dispute.funds_reinstated", dispute)

    def retrieve_dispute(self, p: Params, dispute_id: str) -> Obj:
        p.allow(("expand",))
        return self.render(self.get("dispute", dispute_id), p.expand())

    def list_disputes(self, p: Params) -> Obj:
        p.allow(("charge", "created", "ending_before", "expand", "limit", "payment_intent", "starting_after"))
        wanted = {k: p.string(k) for k in ("charge", "payment_intent")}
        rows = [d for d in self.objects["dispute"].values() if all(v is None or d[k] == v for k, v in wanted.items())]
        return self.page(rows, p, "/v1/disputes", "dispute")

    # ---------------------------------------------------------------------------------------------- events

    def retrieve_event(self, p: Params, event_id: str) -> Obj:
        p.allow(("expand",))
        return self.render(self.get("event", event_id), p.expand())

    def list_events(self, p: Params) -> Obj:
        p.allow(("created", "delivery_success", "ending_before", "expand", "limit", "starting_after", "type", "types"))
        one, many = p.string("type"), p.strings("types")
        if one and many:
            raise invalid("You may only specify one of these parameters: type, types.", param="type")
        patterns = many or ([one] if one else None)
        delivered = p.boolean("delivery_success")
        rows = [
            e
            for e in self.objects["event"].values()
            if (patterns is None or any(fnmatchcase(e["type"], pat) for pat in patterns))
            and (delivered is None or (e["pending_webhooks"] == 0) == delivered)
        ]
        return self.page(rows, p, "/v1/events", "event")
