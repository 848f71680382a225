"""Environment variables, read once into a typed model."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl


class MissingSetting(RuntimeError):
    """Configuration a request needs is not set (answered 500 misconfigured, like a missing secret)."""


class Settings(BaseModel):
    """Each field is read from the upper-case environment variable of its name (TABLE_NAME, HOLD_MINUTES, ...)."""

    model_config = ConfigDict(frozen=True)

    table_name: str = Field(default="booking-deposits-local", description="The DynamoDB table of every item")
    stage: str = "local"
    site_base_url: HttpUrl = Field(
        default=HttpUrl("http://localhost:8080"), description="verify_url = this + /book/verify"
    )
    stripe_api_base: str = Field(default="https://api.stripe.com", description="Stripe or the local Stripe double")
    cal_api_base: str = Field(default="https://api.cal.com", description="Cal.com or the local Cal.com double")
    # Configuration, not a secret: the pages hand it to Stripe.js. Set per deployment, never in code.
    stripe_publishable_key: str = Field(default="", description="pk_test_... or pk_live_...; empty = not configured")
    stripe_js_url: str = Field(default="https://js.stripe.com/v3/", description="Stripe.js (locally the double's)")
    owner_sign_in_mode: Literal["cognito", "local", "none"] = Field(
        default="none", description="How the dashboard signs in: Cognito's hosted UI, the local dev token, or not"
    )
    owner_sign_in_base_url: str = Field(default="", description="https://PREFIX.auth.REGION.amazoncognito.com")
    owner_client_id: str = Field(default="", description="The dashboard's Cognito app client")
    owner_redirect_uri: str = Field(default="", description="Where Cognito returns the owner after sign-in")
    owner_logout_url: str = Field(default="", description="Where Cognito sends the owner after sign-out")
    # One secret per provider key, set only on the functions that may read it (booking.secrets).
    stripe_secret_key_arn: str = Field(default="", description="Secret holding {stripe_secret_key}")
    stripe_webhook_secret_arn: str = Field(default="", description="Secret holding {stripe_webhook_secret}")
    cal_api_key_arn: str = Field(default="", description="Secret holding {cal_api_key}")
    cal_webhook_secret_arn: str = Field(default="", description="Secret holding {cal_webhook_secret}")
    link_signing_key_arn: str = Field(default="", description="Secret holding {link_signing_key} (manage, pay links)")
    owner_alerts_topic_arn: str = Field(default="", description="SNS topic of the owner's alerts")
    payout_hold_hours: int = Field(default=72, ge=0, description="Provider payouts wait this long after payment")
    catalog_path: str = Field(default="", description="Catalog JSON; empty = the catalog shipped in the layer")
    hold_minutes: int = Field(default=15, ge=1, le=120, description="How long a slot stays held while paying")
    token_minutes: int = Field(default=30, ge=1, le=240, description="Booking token lifetime")
    stripe_timeout_seconds: float = Field(default=10.0, gt=0)
    stripe_max_network_retries: int = Field(default=2, ge=0, le=5)
    cal_timeout_seconds: float = Field(default=5.0, gt=0)
    cal_max_attempts: int = Field(default=3, ge=1, le=5)
    confirm_deadline_seconds: float = Field(default=12.0, gt=0, description="Budget for one Cal.com confirmation")
    confirm_lease_seconds: int = Field(default=30, ge=5, description="How long one worker owns a confirmation")
    promo_checks_per_minute: int = Field(default=20, ge=1, description="GET /promo requests per source IP a minute")
    # GET /availability's shared cache of Cal.com's slots (dal/availability_cache.py): fresh this long, then
    # refreshed by one caller; an older copy is served only while a refresh is in flight or Cal.com fails.
    availability_fresh_seconds: int = Field(default=60, ge=1, le=600, description="A cached week is fresh this long")
    availability_stale_seconds: int = Field(
        default=300, ge=1, le=3600, description="Oldest cached week served while Cal.com is refreshing or failing"
    )
    # Notifications (notify/): email through SES from this address (its identity verified in SES); empty = no
    # email of ours, and Cal.com's own emails reach the client whatever CLIENT_EMAILS says.
    notify_from_email: str = Field(default="", description="From address of our emails (an SES identity)")
    owner_email: str = Field(default="", description="Where owner alerts are emailed (empty = the SNS topic only)")
    client_emails: Literal["ours", "calcom", "both"] = Field(
        default="ours",
        description="Who emails the client: ours (Cal.com gets a relay address), calcom (only Cal.com's), or both "
        "(Cal.com's confirmation, reschedule and cancellation emails; ours for the rest)",
    )
    sms_enabled: bool = Field(default=False, description="Text messages through SNS (seed 003: wired, off)")
    notify_max_attempts: int = Field(default=6, ge=1, le=20, description="Sends tried before a message is failed")
    # Roles (seed 004, booking/roles.py): the business's site signs its members in and passes their token with
    # create-intent; it is checked against the site's public keys. Empty ROLE_JWKS_URL = roles off.
    role_jwks_url: str = Field(default="", description="The site sign-in's JWKS URL; empty = roles off")
    role_issuer: str = Field(default="", description="The `iss` a role token must carry (required with the URL)")
    role_audience: str = Field(default="", description="The `aud` a role token must name; empty = not checked")
    role_claim: str = Field(default="role", description="The claim holding the role, or a list (cognito:groups)")


def stripe_publishable_key() -> str:
    key = get_settings().stripe_publishable_key
    if not key:
        raise MissingSetting("STRIPE_PUBLISHABLE_KEY is not set (template parameter StripePublishableKey)")
    return key


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.model_validate(
        {name: os.environ[name.upper()] for name in Settings.model_fields if os.environ.get(name.upper())}
    )
