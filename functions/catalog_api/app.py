"""GET /services and GET /availability: what the site shows before the client picks a slot."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from zoneinfo import ZoneInfo

from aws_lambda_powertools.event_handler.openapi.params import Query

from booking.api_models import ServiceOut, ServicesOut, TimeZoneName
from booking.clock import now
from booking.domain.catalog import get_catalog
from booking.flows.availability import AvailabilityView, bookable_slots, check_window
from booking.http import api_handler, create_app, responses

app = create_app()


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


lambda_handler = api_handler(app)
