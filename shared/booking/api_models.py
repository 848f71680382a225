"""Request and response bodies of the public API (the OpenAPI document is generated from these)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic.networks import validate_email
from pydantic_core import CoreSchema

from booking.domain.catalog import Service, validate_time_zone
from booking.domain.models import Attendee
from booking.domain.pricing import PaymentType


class _EmailFormat:
    """Documents the field as pydantic's EmailStr does: {"type": "string", "format": "email"}."""

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        field_schema: dict[str, Any] = handler(schema)
        field_schema.update(type="string", format="email")
        return field_schema


def _email_address(address: str) -> str:
    """pydantic's EmailStr check and normalisation. EmailStr itself imports email-validator (~30 ms) as soon as a
    model using it is defined; validate_email imports it with the first address. Only create-intent receives
    addresses, but catalog, create-token and verify import this module too."""
    return validate_email(address)[1]


EmailAddress = Annotated[str, AfterValidator(_email_address), _EmailFormat()]
TimeZoneName = Annotated[
    str, Field(min_length=1, max_length=64, examples=["America/New_York"]), AfterValidator(validate_time_zone)
]
BookingId = Annotated[str, Field(pattern=r"^bk_[0-9a-f]{24}$", examples=["bk_0123456789abcdef01234567"])]


class AttendeeIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    email: EmailAddress = Field(max_length=254)
    phone: str | None = Field(default=None, pattern=r"^\+[1-9][0-9]{6,14}$", description="E.164, e.g. +14155550100")
    time_zone: TimeZoneName

    def to_domain(self) -> Attendee:
        return Attendee(name=self.name, email=str(self.email), phone=self.phone, time_zone=self.time_zone)


class CreateIntentRequest(BaseModel):
    service_id: str = Field(min_length=1, max_length=64)
    start: AwareDatetime = Field(description="Slot start with a UTC offset, as /availability lists it")
    attendee: AttendeeIn
    payment_type: PaymentType = Field(default="deposit", description="deposit (default) or full")


class CreateTokenRequest(BaseModel):
    booking_id: BookingId
    payment_intent_id: str = Field(pattern=r"^pi_[A-Za-z0-9_]+$", max_length=255)


class VerifyRequest(BaseModel):
    token: str = Field(min_length=16, max_length=256)


class PayLinkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=16, max_length=256, description="The token of the pay link")


class PriceOut(BaseModel):
    amount: int = Field(description="Minor units")
    currency: str


class ServiceOut(BaseModel):
    id: str
    name: str
    duration_minutes: int
    price: PriceOut
    deposit_percent: int

    @classmethod
    def of(cls, service: Service) -> ServiceOut:
        return cls(
            id=service.id,
            name=service.name,
            duration_minutes=service.duration_minutes,
            price=PriceOut(amount=service.price.amount, currency=service.price.currency),
            deposit_percent=service.deposit_percent,
        )


class ServicesOut(BaseModel):
    services: list[ServiceOut]
