"""Least privilege, pinned: each function's permissions in template.yaml are exactly the list its code needs,
and the suite checks, invocation by invocation, that the code uses nothing more (tests/iam_recorder.py).

Adding a permission means adding it here, with the code path that needs it; removing one the code still uses
fails the integration test that reaches that path.
"""

from __future__ import annotations

from typing import Any

import pytest

from local.iam import SES_IDENTITY, Permission, function_permissions, policy_permissions
from local.lambda_runtime import LocalLambda
from local.template import functions, load_template
from tests.iam_recorder import AccessRecorder
from tests.support import ApiClient

TABLE = "BookingsTable"
GET, PUT, UPDATE, DELETE, BATCH_GET = "GetItem", "PutItem", "UpdateItem", "DeleteItem", "BatchGetItem"
STRIPE_KEY, STRIPE_WEBHOOK = "StripeSecretKeySecret", "StripeWebhookSecret"
CAL_KEY, CAL_WEBHOOK = "CalApiKeySecret", "CalWebhookSecret"
LINK_KEY = "LinkSigningKeySecret"  # the manage and pay links are derived from it (booking.secrets.link_token)
ALERTS = "OwnerAlertsTopic"


def grants(
    table: tuple[str, ...] = (),
    indexes: tuple[str, ...] = (),
    secrets: tuple[str, ...] = (),
    alerts: bool = False,
) -> frozenset[Permission]:
    return frozenset(
        {Permission(f"dynamodb:{action}", TABLE) for action in table}
        | {Permission("dynamodb:Query", f"{TABLE}/index/{index}") for index in indexes}
        | {Permission("secretsmanager:GetSecretValue", secret) for secret in secrets}
        | ({Permission("sns:Publish", ALERTS)} if alerts else set())
    )


# Why each: the code path that needs it (functions/<name>/app.py -> shared/booking/...).
# LINK_KEY: the functions that give out a manage link (verify, rebook) or may mint a pay link (any path that runs
# money.settlement / collections: a late-cancel or no-show fee, a balance the saved card could not pay), and the
# notifier that names both in its messages.
EXPECTED = {
    # availability: Cal.com's free slots minus the seats held here (SlotIndex); never money. GET /promo: the code's
    # item (GetItem) and the caller's rate counter (UpdateItem), each limited to its keys (LEADING_KEYS)
    # Blocked dates: the blocks' partition (Query, LEADING_KEYS), one query per availability call
    "CatalogFunction": grants((GET, UPDATE, "Query"), indexes=("SlotIndex",), secrets=(CAL_KEY,)),
    # the HELD booking, its seat and the idempotency claim in one transaction (a retry deletes a stale claim);
    # the PaymentIntent in Stripe; the slot re-checked in Cal.com
    # the start refused on a blocked date (Query on the blocks' partition, LEADING_KEYS)
    # a start inside a neighbour's buffer refused (the held seats around it: SlotIndex)
    # a waitlist service's hold checks nobody waits for the slot (ConditionCheck on its line's state, WAITLIST#)
    "CreateIntentFunction": grants(
        (GET, PUT, UPDATE, DELETE, "Query", "ConditionCheckItem"), indexes=("SlotIndex",), secrets=(STRIPE_KEY, CAL_KEY)
    ),
    # reads the PaymentIntent, records PAID, writes the token; alerts an unexpected payment
    "CreateTokenFunction": grants((GET, PUT, UPDATE), secrets=(STRIPE_KEY,), alerts=True),
    # redeems the token, books in Cal.com, refunds and frees the seat when the slot was lost; PutItem: the owner's
    # alert items and the client's manage link only (ALERT# and MANAGE# keys, see LEADING_KEYS)
    "VerifyBookingFunction": grants((GET, PUT, UPDATE, DELETE), secrets=(STRIPE_KEY, CAL_KEY, LINK_KEY), alerts=True),
    # the inbox, the booking by PaymentIntent, refunds/reversals, Cal.com cancellation of a refunded booking
    "StripeWebhookFunction": grants(
        (GET, PUT, UPDATE, DELETE),
        ("PaymentIntentIndex",),
        (STRIPE_KEY, STRIPE_WEBHOOK, CAL_KEY, LINK_KEY),
        alerts=True,
    ),
    # the inbox, the booking by Cal.com uid, the policy refund of a cancellation
    "CalWebhookFunction": grants(
        (GET, PUT, UPDATE, DELETE), ("CalUidIndex",), (STRIPE_KEY, CAL_KEY, CAL_WEBHOOK, LINK_KEY), alerts=True
    ),
    # the owner's list and summary (StartIndex, then the bookings by key), flagged bookings and the owner's alerts
    # (AttentionIndex's "OPEN" and "ALERT" partitions); the promo codes (Query on their "PROMO" partition only,
    # LEADING_KEYS); the blocked dates (the "BLOCKED" partition, the same statement); a booking's messages (its own
    # "BOOKING#" partition, the same statement); reads only, no secret
    # GET /admin/waitlist: the lines (Query on WAITLIST#, LEADING_KEYS) and an open offer's pay link (LINK_KEY)
    "AdminApiFunction": grants((GET, BATCH_GET, "Query"), ("StartIndex", "AttentionIndex"), (LINK_KEY,)),
    # refunds, cancellations (Cal.com too), balances and fees: money and the calendar, and the owner's alerts
    # blocked dates: the blocks (Query on their partition, LEADING_KEYS), the bookings on them (the owner's
    # date-range listing: StartIndex, then BatchGetItem), backup starts checked like create-intent's
    "OwnerActionsFunction": grants(
        (GET, PUT, UPDATE, DELETE, BATCH_GET, "Query"), ("StartIndex",), (STRIPE_KEY, CAL_KEY, LINK_KEY), alerts=True
    ),
    # another time on the same payment (Cal.com), or the refund when none is chosen (Stripe)
    # ... and the new start refused on a blocked date (Query on the blocks' partition, LEADING_KEYS)
    "RebookFunction": grants((GET, PUT, UPDATE, DELETE, "Query"), secrets=(STRIPE_KEY, CAL_KEY, LINK_KEY), alerts=True),
    # the client's manage link: a cancellation (Cal.com, the seat, the policy's refund) or a move (Cal.com, the new
    # seat, a late fee charged to the saved card); the new time is never on a blocked date (Query on "BLOCKED")
    "ManageBookingFunction": grants(
        (GET, PUT, UPDATE, DELETE, "Query"), secrets=(STRIPE_KEY, CAL_KEY, LINK_KEY), alerts=True
    ),
    # a package bought (its item and the purchase's key in one transaction) and its PaymentIntent; read, with its
    # bookings, and activated when Stripe says it was paid
    "PackagesFunction": grants((GET, PUT, UPDATE), secrets=(STRIPE_KEY,)),
    # the client's pay link: the balance's PaymentIntent in Stripe
    "PayBalanceFunction": grants((GET, PUT, UPDATE), secrets=(STRIPE_KEY,)),
    # expiry, late confirmation, inbox retries (which run the webhooks' handlers), owed money; blocks written before
    # day items get theirs (Query on the blocks' partition, LEADING_KEYS)
    "ExpireHoldsFunction": grants(
        (GET, BATCH_GET, PUT, UPDATE, DELETE, "Query"),  # BatchGetItem: the due bookings of the DueIndex's keys
        ("DueIndex", "InboxIndex", "MoneyIndex", "PaymentIntentIndex", "CalUidIndex"),
        (STRIPE_KEY, CAL_KEY, LINK_KEY),
        alerts=True,
    ),
    # transfers after the hold; a booking cancelled in Cal.com is repaired before its provider is paid; PutItem:
    # the owner's alert items and a fee's pay link only (LEADING_KEYS)
    "PayoutsCronFunction": grants(
        (GET, PUT, UPDATE, DELETE), ("PayoutIndex",), (STRIPE_KEY, CAL_KEY, LINK_KEY), alerts=True
    ),
    # messages: planned (Put), leased and marked (Update), listed per booking (Query on the table), swept
    # (OutboxIndex); bookings, packages and alerts read to render them; the manage and pay links named; email
    # through the configured SES identity only, texts to phone numbers (no ARN: "*") once SMS is switched on
    "NotificationsFunction": grants((GET, PUT, UPDATE, "Query"), ("OutboxIndex",), (LINK_KEY,), alerts=True)
    | {Permission("ses:SendEmail", SES_IDENTITY), Permission("sns:Publish", "*")},
    # the report aggregates: a stream record's once-only marker (PutItem, STREAM#) and its ADDs to the days'
    # counters (UpdateItem, REPORT#) in one transaction (booking.reports.store)
    # waitlist offers (booking.waitlist.promote): the slot's free seats and its line (Query), the HELD booking with
    # its seats and the entry OFFERED in one transaction, its PaymentIntent (Stripe) and pay link (LINK_KEY); an
    # offer settled from its booking (GetItem), a lapsed offer's email claim deleted; the hold checks its date is not
    # blocked (ConditionCheck on the day item, BLOCKED#)
    "TableChangesFunction": grants(
        (GET, PUT, UPDATE, DELETE, "Query", "ConditionCheckItem"), secrets=(STRIPE_KEY, LINK_KEY)
    ),
    # the waitlist's own items (entries, claims, pointers, line states), the slot's seats (is it full?), blocked
    # dates and the calendar's slots (the start must be offered, as for create-intent)
    "WaitlistFunction": grants((GET, PUT, UPDATE, DELETE, "Query"), secrets=(CAL_KEY,)),
}
# Texts to phone numbers cannot be scoped to a resource (SNS has no ARN for a number); granted only with SmsEnabled.
WILDCARD_GRANTS = {("NotificationsFunction", Permission("sns:Publish", "*"))}
# Table-wide grants limited to some partition keys: (function, action) -> the keys (dynamodb:LeadingKeys).
LEADING_KEYS = {
    ("CatalogFunction", "dynamodb:GetItem"): ["PROMO", "AVAIL#*"],  # a public route reads promo codes, cached weeks
    # ... and counts its callers' requests, and leases and fills the cached weeks of availability, nothing else
    ("CatalogFunction", "dynamodb:UpdateItem"): ["RATE#*", "AVAIL#*"],
    ("AdminApiFunction", "dynamodb:Query"): ["PROMO", "BLOCKED", "BOOKING#*", "REPORT#*", "WAITLIST#*"],  # +lines
    # a stream record's once-only marker; a waitlist offer's booking, seats and pay link
    ("TableChangesFunction", "dynamodb:PutItem"): ["STREAM#*", "BOOKING#*", "SLOT#*", "PAYLINK#*"],
    # the report days' counters; a waitlist offer's entry and line, its booking's PaymentIntent, its pay link
    ("TableChangesFunction", "dynamodb:UpdateItem"): ["REPORT#*", "BOOKING#*", "WAITLIST#*", "PAYLINK#*"],
    ("TableChangesFunction", "dynamodb:GetItem"): ["BOOKING#*", "WAITLIST#*"],  # offers settled from their bookings
    ("TableChangesFunction", "dynamodb:DeleteItem"): ["WAITLIST#*"],  # a lapsed offer's email claim
    ("TableChangesFunction", "dynamodb:Query"): ["SLOT#*", "WAITLIST#*"],  # free seats, the line
    # nobody waits for the slot; the hold's date is not blocked (its day item)
    ("CreateIntentFunction", "dynamodb:ConditionCheckItem"): ["WAITLIST#*", "BLOCKED#*"],
    ("TableChangesFunction", "dynamodb:ConditionCheckItem"): ["BLOCKED#*"],  # a waitlist offer's date not blocked
    ("ExpireHoldsFunction", "dynamodb:Query"): ["BLOCKED"],  # day items for blocks written before them
    ("WaitlistFunction", "dynamodb:Query"): ["BLOCKED", "SLOT#*", "WAITLIST#*"],  # blocks, seats, the line
    ("CatalogFunction", "dynamodb:Query"): ["BLOCKED", "WAITLIST#*"],  # availability skips blocked dates, shows lines
    ("CreateIntentFunction", "dynamodb:Query"): ["BLOCKED"],  # ... and create-intent refuses them
    ("RebookFunction", "dynamodb:Query"): ["BLOCKED"],
    ("OwnerActionsFunction", "dynamodb:Query"): ["BLOCKED"],  # the blocks themselves
    ("VerifyBookingFunction", "dynamodb:PutItem"): ["ALERT#*", "MANAGE#*"],  # alerts and the manage link's token
    ("PayoutsCronFunction", "dynamodb:PutItem"): ["ALERT#*", "PAYLINK#*"],  # alerts; a fee's pay link (settle)
    ("ManageBookingFunction", "dynamodb:Query"): ["BLOCKED"],  # a new time is never on a blocked date
}
SECRET_VARIABLES = {
    STRIPE_KEY: "STRIPE_SECRET_KEY_ARN",
    STRIPE_WEBHOOK: "STRIPE_WEBHOOK_SECRET_ARN",
    CAL_KEY: "CAL_API_KEY_ARN",
    CAL_WEBHOOK: "CAL_WEBHOOK_SECRET_ARN",
    LINK_KEY: "LINK_SIGNING_KEY_ARN",
}


@pytest.mark.parametrize("logical_id", sorted(EXPECTED))
def test_each_function_has_exactly_the_permissions_its_code_needs(logical_id: str) -> None:
    granted = function_permissions()[logical_id]
    assert sorted(granted) == sorted(EXPECTED[logical_id])


@pytest.mark.parametrize(("logical_id", "action"), sorted(LEADING_KEYS))
def test_table_wide_grants_limited_to_some_keys_name_exactly_those_keys(logical_id: str, action: str) -> None:
    statements = [
        statement
        for policy in load_template()["Resources"][logical_id]["Properties"]["Policies"]
        for statement in policy.get("Statement", [])
        if action in str(statement["Action"]) and statement["Resource"] == {"Fn::GetAtt": "BookingsTable.Arn"}
    ]
    assert [s["Action"] for s in statements] == [action]
    expected = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": LEADING_KEYS[(logical_id, action)]}}
    assert statements[0]["Condition"] == expected


def test_every_function_is_pinned() -> None:
    assert set(function_permissions()) == set(EXPECTED)


def test_no_function_may_scan_batch_write_or_touch_another_resource() -> None:
    for logical_id, granted in function_permissions().items():
        actions = {permission.action for permission in granted}
        assert not actions & {"dynamodb:Scan", "dynamodb:BatchWriteItem", "dynamodb:DeleteTable"}, logical_id
        assert all(
            "*" not in permission.resource or (logical_id, permission) in WILDCARD_GRANTS for permission in granted
        ), logical_id


def test_the_public_catalog_and_the_owners_read_api_cannot_read_the_stripe_key() -> None:
    for logical_id in ("CatalogFunction", "AdminApiFunction"):
        secrets = {p.resource for p in function_permissions()[logical_id] if p.action.startswith("secretsmanager:")}
        assert STRIPE_KEY not in secrets and STRIPE_WEBHOOK not in secrets, logical_id


@pytest.mark.parametrize("logical_id", sorted(EXPECTED))
def test_a_function_is_told_exactly_the_secrets_it_may_read(logical_id: str) -> None:
    # The environment names a key's secret (booking.secrets) only where the role may read it, and no global does
    environment = functions()[logical_id].environment
    readable = {p.resource for p in EXPECTED[logical_id] if p.action == "secretsmanager:GetSecretValue"}
    named = {value["Ref"] for name, value in environment.items() if name in SECRET_VARIABLES.values()}
    assert named == readable
    assert all(environment[SECRET_VARIABLES[secret]] == {"Ref": secret} for secret in readable)


def test_one_secret_per_key_and_no_shared_secret() -> None:
    resources = load_template()["Resources"]
    secrets = {name for name, res in resources.items() if res["Type"] == "AWS::SecretsManager::Secret"}
    assert secrets == set(SECRET_VARIABLES)
    assert "admin_api_token" not in str(load_template())


def test_broad_policies_are_refused_by_the_reader() -> None:
    # So that a DynamoDBCrudPolicy or a managed policy cannot hide from the pinned lists above
    with pytest.raises(ValueError, match="unsupported policy"):
        policy_permissions({"DynamoDBCrudPolicy": {"TableName": {"Ref": TABLE}}})
    with pytest.raises(ValueError, match="unsupported policy resource"):
        policy_permissions({"Statement": [{"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*"}]})


# --- the recorder sees what functions do --------------------------------------------------------------------


def test_the_recorder_attributes_each_call_to_the_function_that_made_it(
    api: ApiClient, access_recorder: AccessRecorder
) -> None:
    # Given a booking walked through catalog, create-intent, create-token and verify
    access_recorder.used.clear()
    api.confirmed_booking()
    # Then each function's recorded use is within its grants, and is what the flow must have done
    used = access_recorder.used
    assert Permission("dynamodb:PutItem", TABLE) in used["CreateIntentFunction"]
    assert Permission("secretsmanager:GetSecretValue", STRIPE_KEY) in used["CreateIntentFunction"]
    assert Permission("dynamodb:Query", f"{TABLE}/index/SlotIndex") in used["CatalogFunction"]
    assert Permission("secretsmanager:GetSecretValue", CAL_KEY) in used["VerifyBookingFunction"]
    for logical_id, permissions in used.items():
        assert permissions <= EXPECTED[logical_id], logical_id


def test_a_permission_the_template_does_not_grant_is_a_violation(
    api: ApiClient, access_recorder: AccessRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a template that would not let create-intent write the table nor read the Stripe key
    reduced = dict(access_recorder.granted)
    reduced["CreateIntentFunction"] = frozenset(
        p
        for p in reduced["CreateIntentFunction"]
        if p not in {Permission("dynamodb:PutItem", TABLE), Permission("secretsmanager:GetSecretValue", STRIPE_KEY)}
    )
    monkeypatch.setattr(access_recorder, "granted", reduced)
    # When a client starts a booking
    assert api.create_intent().status == 201
    # Then the recorder reports both uses (and the suite would fail the test that made them)
    violations = access_recorder.take_violations()
    assert "CreateIntentFunction used dynamodb:PutItem on BookingsTable: not granted" in violations
    assert "CreateIntentFunction used secretsmanager:GetSecretValue on StripeSecretKeySecret: not granted" in violations


def test_a_secret_read_in_aws_is_attributed_to_the_functions_own_secret(lam: LocalLambda, monkeypatch: Any) -> None:
    # Given the template's per-function secret variables and no local key
    recorder = AccessRecorder()
    with recorder.serving("CatalogFunction"):
        assert recorder.secret_read("cal_api_key") == {Permission("secretsmanager:GetSecretValue", CAL_KEY)}
        # a key the function is not told about is reported as such
        (stripe,) = recorder.secret_read("stripe_secret_key")
        assert stripe.resource == "<no STRIPE_SECRET_KEY_ARN in its environment>"
