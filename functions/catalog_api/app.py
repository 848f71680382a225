"""GET /config, GET /services, GET /availability and GET /promo/{code}: what the site shows before the client
books.

The template also gives this function the API's `$default` route: a request no route matches gets the error shape
(404 route_not_found, or 405 method_not_allowed with `Allow`) from booking.http, not API Gateway's own 404.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from booking.api_models import (
    BookingRulesOut,
    BusinessOut,
    CognitoSignIn,
    LocalSignIn,
    NoSignIn,
    NotificationsOut,
    PackageOut,
    ServiceOut,
    ServicesOut,
    SiteConfig,
    StripeOut,
    TimeZoneName,
)
from booking.clock import now
from booking.domain.catalog import get_catalog
from booking.errors import InvalidRequest
from booking.flows.availability import AvailabilityView, bookable_slots, check_window
from booking.flows.promos import CODE_PATTERN, PromoCheck
from booking.flows.promos import check as check_promo
from booking.flows.series import SeriesPreview
from booking.flows.series import preview as series_preview
from booking.http import Path, Query, Response, api_handler, content_types, create_app, responses
from booking.settings import MissingSetting, Settings, get_settings, stripe_publishable_key

app = create_app()

# The same for every visitor until the next deployment: browsers and CDNs may keep it a few minutes.
CONFIG_CACHE_CONTROL = "public, max-age=300"
OWNER_SCOPES = ["openid", "email"]


def _owner_sign_in(settings: Settings) -> CognitoSignIn | LocalSignIn | NoSignIn:
    if settings.owner_sign_in_mode == "local":
        return LocalSignIn()
    if settings.owner_sign_in_mode == "none":
        return NoSignIn()
    base = settings.owner_sign_in_base_url.rstrip("/")
    if not (base and settings.owner_client_id and settings.owner_redirect_uri):
        raise MissingSetting("OWNER_SIGN_IN_MODE is cognito without OWNER_SIGN_IN_BASE_URL, client id or redirect")
    return CognitoSignIn(
        authorize_url=f"{base}/oauth2/authorize",
        token_url=f"{base}/oauth2/token",
        logout_url=f"{base}/logout",
        client_id=settings.owner_client_id,
        redirect_uri=settings.owner_redirect_uri,
        scopes=OWNER_SCOPES,
    )


@app.get(
    "/config",
    summary="What the site kit needs: business, Stripe publishable key, services, sign-in (cacheable)",
    tags=["catalog"],
    responses=responses(200, "The site's configuration (Cache-Control: public, max-age=300)"),
)
def site_config() -> Response[SiteConfig]:
    settings = get_settings()
    catalog = get_catalog()
    config = SiteConfig(
        business=BusinessOut(name=catalog.business.name, time_zone=catalog.business.time_zone),
        currencies=sorted({currency for service in catalog.services for currency in service.currencies}),
        stripe=StripeOut(publishable_key=stripe_publishable_key(), js_url=settings.stripe_js_url),
        services=[ServiceOut.of(service) for service in catalog.services],
        packages=[PackageOut.of(package) for package in catalog.packages],
        booking=BookingRulesOut(hold_minutes=settings.hold_minutes, token_minutes=settings.token_minutes),
        notifications=NotificationsOut(sms=settings.sms_enabled),
        owner_sign_in=_owner_sign_in(settings),
    )
    return Response(
        status_code=200,
        content_type=content_types.APPLICATION_JSON,
        body=config,
        headers={"Cache-Control": CONFIG_CACHE_CONTROL},
    )


@app.get("/services", summary="The bookable services and their prices", tags=["catalog"])
def list_services() -> ServicesOut:
    return ServicesOut(services=[ServiceOut.of(service) for service in get_catalog().services])


@app.get(
    "/availability",
    summary="Bookable slots of a service, a week at a time",
    tags=["catalog"],
    responses=responses(200, "Slots per day, in time_zone", 422, 502, 503),
)
def availability(
    service_id: Annotated[str, Query(min_length=1, max_length=64)],
    start: Annotated[date | None, Query(description="First day (YYYY-MM-DD) in time_zone; default today")] = None,
    days: Annotated[int, Query(ge=1, le=31)] = 7,
    time_zone: Annotated[TimeZoneName | None, Query(description="IANA zone; default the business's")] = None,
) -> AvailabilityView:
    catalog = get_catalog()
    service = catalog.service(service_id)
    zone = time_zone or catalog.business.time_zone
    current = now()
    today = current.astimezone(ZoneInfo(zone)).date()
    first_day = start or today
    check_window(first_day, today)
    return bookable_slots(service, first_day, days, zone, current)


@app.get(
    "/availability/series",
    summary="Which dates of a recurring series are free (book it with create-intent's recurrence, skipping the rest)",
    tags=["catalog"],
    responses=responses(200, "Each date of the series, free or why not", 422, 502, 503),
)
def series_availability(
    service_id: Annotated[str, Query(min_length=1, max_length=64)],
    start: Annotated[datetime, Query(description="The first start with its UTC offset, as /availability lists it")],
    every_weeks: Annotated[int, Query(ge=1, le=8)] = 1,
    count: Annotated[int, Query(ge=2, le=26)] = 4,
    participants: Annotated[int, Query(ge=1, le=50)] = 1,
) -> SeriesPreview:
    if start.tzinfo is None:
        raise InvalidRequest("start needs a UTC offset.", fields={"start": "with a UTC offset"})
    return series_preview(service_id, start, every_weeks, count, participants)


@app.get(
    "/promo/<code>",
    summary="May this promo code be used for this service, and what would the booking cost (rate-limited per IP)",
    tags=["catalog"],
    responses=responses(200, "Valid or not: unknown, inactive, expired and used-up codes answer alike", 422, 429),
)
def promo_check(
    code: Annotated[str, Path(pattern=CODE_PATTERN, description="Case-insensitive")],
    service_id: Annotated[str, Query(min_length=1, max_length=64)],
    currency: Annotated[str | None, Query(pattern=r"^[A-Za-z]{3}$", description="One of the service's")] = None,
) -> PromoCheck:
    return check_promo(code, service_id, currency, app.current_event.request_context.http.source_ip)


lambda_handler = api_handler(app)
