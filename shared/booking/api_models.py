"""Request and response bodies of the public API (the OpenAPI document is generated from these)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic.networks import validate_email
from pydantic_core import CoreSchema

from booking.domain.catalog import Package, Service, validate_time_zone
from booking.domain.models import Attendee, Participant
from booking.domain.pricing import PaymentType, quote


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
# No format check: a link's token that is mangled, cut or made up is simply unknown (404 token_not_found).
LinkToken = Annotated[str, Field(description="The token of the link, as given", examples=["3q2-7wE..."])]


class RequestBody(BaseModel):
    """A request body: a key the API does not know is refused (422 naming it), never silently ignored."""

    model_config = ConfigDict(extra="forbid")


class AttendeeIn(RequestBody):
    model_config = ConfigDict(str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    email: EmailAddress = Field(max_length=254)
    phone: str | None = Field(default=None, pattern=r"^\+[1-9][0-9]{6,14}$", description="E.164, e.g. +14155550100")
    time_zone: TimeZoneName

    def to_domain(self) -> Attendee:
        return Attendee(name=self.name, email=str(self.email), phone=self.phone, time_zone=self.time_zone)


PromoCode = Annotated[
    str,
    Field(pattern=r"^[A-Za-z0-9_-]{3,32}$", examples=["WIMD25"], description="Case-insensitive"),
    AfterValidator(str.upper),
]
PackageId = Annotated[str, Field(pattern=r"^pkg_[0-9a-f]{24}$", examples=["pkg_0123456789abcdef01234567"])]
CurrencyIn = Annotated[
    str, Field(pattern=r"^[A-Za-z]{3}$", examples=["usd"], description="ISO 4217"), AfterValidator(str.lower)
]


class PackageCredential(RequestBody):
    id: PackageId
    secret: str = Field(min_length=1, max_length=200, description="The secret given when the package was bought")


class NotifyIn(RequestBody):
    """How the client wants to hear about the booking (the business's settings decide what is sent at all)."""

    email: bool = Field(default=True, description="Emails about the booking")
    sms: bool = Field(default=False, description="Text messages (needs attendee.phone; sent only when SMS is on)")


class PartyMemberIn(RequestBody):
    """A member of a group booking's party besides the payer (seed 004); with an email, a seat of the Cal.com
    booking is theirs."""

    model_config = ConfigDict(str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    email: EmailAddress | None = Field(default=None, max_length=254)

    def to_domain(self) -> Participant:
        return Participant(name=self.name, email=str(self.email) if self.email else None)


class RecurrenceIn(RequestBody):
    """A recurring series: `count` dates every `every_weeks` weeks at the start's local time, less `skip`."""

    every_weeks: int = Field(ge=1, le=8, description="1 = weekly; one of the service's recurrence.every_weeks")
    count: int = Field(ge=2, le=26, description="Dates in the pattern, up to the service's max_occurrences")
    skip: list[date] = Field(
        default_factory=list,
        max_length=25,
        description="Dates of the pattern (YYYY-MM-DD, the business's) not to book, e.g. those "
        "GET /availability/series shows taken; never the first",
    )


class CreateIntentRequest(RequestBody):
    service_id: str = Field(min_length=1, max_length=64)
    start: AwareDatetime = Field(description="Slot start with a UTC offset, as /availability lists it")
    attendee: AttendeeIn
    payment_type: PaymentType = Field(default="deposit", description="deposit (default) or full")
    currency: CurrencyIn | None = Field(default=None, description="One of the service's currencies; default its first")
    promo_code: PromoCode | None = None
    package: PackageCredential | None = Field(default=None, description="Book with a credit of a package (no payment)")
    backup_start: AwareDatetime | None = Field(
        default=None, description="A second start of the same service, used if the owner blocks the first's date"
    )
    notify: NotifyIn = Field(default_factory=NotifyIn, description="The client's choice of messages")
    participants: int = Field(
        default=1, ge=1, le=50, description="Seats the booking takes, the payer's included (at most the seats left)"
    )
    party: list[PartyMemberIn] = Field(
        default_factory=list, max_length=49, description="Who else comes (at most participants - 1); addable later"
    )
    role_token: str | None = Field(
        default=None,
        min_length=1,
        max_length=8192,
        description="The client's sign-in token from the business's own site (a JWT it signs); its role claim prices "
        "the booking (README, Roles). Never a role the client types",
    )
    recurrence: RecurrenceIn | None = Field(
        default=None,
        description="Book a recurring series from `start` (services with a catalog recurrence); each date is its own "
        "booking, all held at once and paid with one payment",
    )


class CreateTokenRequest(RequestBody):
    booking_id: BookingId
    payment_intent_id: str = Field(pattern=r"^pi_[A-Za-z0-9_]+$", max_length=255)


class VerifyRequest(RequestBody):
    token: LinkToken


class PayLinkRequest(RequestBody):
    token: LinkToken


class RebookRequest(RequestBody):
    token: LinkToken = Field(description="The booking token (verify link or create-token)")
    start: AwareDatetime = Field(description="Another start of the same service, as /availability lists it")


class PriceOut(BaseModel):
    amount: int = Field(description="Minor units")
    currency: str


class RolePriceOut(BaseModel):
    """What a client with a role (from the site's signed sign-in) pays per seat, e.g. resident artists: free."""

    role: str
    seat_prices: list[PriceOut] = Field(description="Per seat in each currency; empty when a percent is taken off")
    discount_percent: int | None = Field(description="Percent off the list price; null when a seat price is set")


class GroupRateOut(BaseModel):
    min_participants: int
    seat_prices: list[PriceOut] = Field(description="Per seat, in each currency the service is sold in")


class RecurrenceOut(BaseModel):
    max_occurrences: int
    every_weeks: list[int]
    payment: Literal["per_occurrence", "series"] = Field(
        description="per_occurrence: each occurrence's deposit (or price) at booking; series: the series in full"
    )


class ServiceOut(BaseModel):
    id: str
    name: str
    duration_minutes: int
    price: PriceOut
    deposit: PriceOut = Field(description="What a deposit booking pays now")
    deposit_percent: int
    payment_types: list[PaymentType] = Field(description='["deposit", "full"]; only "full" when the deposit is 100%')
    capacity: int = Field(description="Clients per slot")
    prices: list[PriceOut] = Field(description="The price in each currency offered, the default (`price`) first")
    deposits: list[PriceOut] = Field(description="What a deposit booking pays now, per currency")
    free: bool = Field(description="No payment at all")
    requires_phone: bool = Field(description="attendee.phone (E.164) is required")
    max_reschedules: int | None = Field(description="How often a client may reschedule; null = no cap")
    role_prices: list[RolePriceOut] = Field(
        default_factory=list, description="Prices for signed-in roles (create-intent's role_token)"
    )
    party_limit: int = Field(description="Most seats one booking may take (create-intent `participants`)")
    group_rates: list[GroupRateOut] = Field(description="Per-seat prices for parties at least this large")
    waitlist: bool = Field(description="A full slot offers POST /waitlist")
    recurrence: RecurrenceOut | None = Field(description="Bookable as a series (create-intent `recurrence`); null = no")
    buffer_before_minutes: int
    buffer_after_minutes: int

    @classmethod
    def of(cls, service: Service) -> ServiceOut:
        deposits = [
            PriceOut(amount=quote(service, "deposit", price.currency).amount_due_now, currency=price.currency)
            for price in service.all_prices
        ]
        return cls(
            id=service.id,
            name=service.name,
            duration_minutes=service.duration_minutes,
            price=PriceOut(amount=service.price.amount, currency=service.price.currency),
            deposit=deposits[0],
            deposit_percent=service.deposit_percent,
            payment_types=["deposit", "full"] if deposits[0].amount < service.price.amount else ["full"],
            capacity=service.capacity,
            prices=[PriceOut(amount=price.amount, currency=price.currency) for price in service.all_prices],
            deposits=deposits,
            free=service.is_free,
            requires_phone=service.requires_phone,
            max_reschedules=service.reschedule.max_count,
            role_prices=[
                RolePriceOut(
                    role=rule.role,
                    seat_prices=[PriceOut(amount=price.amount, currency=price.currency) for price in rule.all_prices],
                    discount_percent=rule.discount_percent,
                )
                for rule in service.role_prices
            ],
            party_limit=service.party_limit,
            group_rates=[
                GroupRateOut(
                    min_participants=rate.min_participants,
                    seat_prices=[PriceOut(amount=price.amount, currency=price.currency) for price in rate.all_prices],
                )
                for rate in service.group_rates
            ],
            waitlist=service.waitlist,
            recurrence=RecurrenceOut(**service.recurrence.model_dump()) if service.recurrence else None,
            buffer_before_minutes=service.buffer_before_minutes,
            buffer_after_minutes=service.buffer_after_minutes,
        )


class ServicesOut(BaseModel):
    services: list[ServiceOut]


class PackageOut(BaseModel):
    """A package on sale, as the site's package page offers it (POST /packages/purchase buys one)."""

    id: str
    name: str
    sessions: int
    price: PriceOut
    prices: list[PriceOut] = Field(description="The price in each currency offered, the default (`price`) first")
    services: list[str] = Field(description="The services a credit books")
    expires_days: int | None = Field(description="Days from the purchase to use the credits; null = no expiry")

    @classmethod
    def of(cls, package: Package) -> PackageOut:
        return cls(
            id=package.id,
            name=package.name,
            sessions=package.sessions,
            price=PriceOut(amount=package.price.amount, currency=package.price.currency),
            prices=[PriceOut(amount=price.amount, currency=price.currency) for price in package.all_prices],
            services=list(package.services),
            expires_days=package.expires_days,
        )


class BusinessOut(BaseModel):
    name: str
    time_zone: str = Field(description="IANA zone of the business; availability defaults to it")


class StripeOut(BaseModel):
    publishable_key: str = Field(description="For Stripe(pk) in the browser")
    js_url: str = Field(description="Where the pages load Stripe.js from")


class BookingRulesOut(BaseModel):
    hold_minutes: int = Field(description="How long a slot stays held while the client pays")
    token_minutes: int = Field(description="How long a verify link stays valid")


class CognitoSignIn(BaseModel):
    """The dashboard signs in with Cognito's hosted UI: OAuth 2.0 code flow with PKCE (a public client)."""

    mode: Literal["cognito"] = "cognito"
    authorize_url: str
    token_url: str
    logout_url: str
    client_id: str
    redirect_uri: str
    scopes: list[str]


class LocalSignIn(BaseModel):
    """The local runner: the dashboard gets a dev token from the site's /_local/dev-token."""

    mode: Literal["local"] = "local"


class NoSignIn(BaseModel):
    """No hosted sign-in is deployed: owners use the API with a token got another way (README, Owner sign-in)."""

    mode: Literal["none"] = "none"


class NotificationsOut(BaseModel):
    sms: bool = Field(description="Text messages are on: the widget offers 'Text me a reminder'")


class SiteConfig(BaseModel):
    """What the site kit needs before its first call (GET /config)."""

    business: BusinessOut
    currencies: list[str] = Field(description="Lower-case ISO 4217 codes of the services' prices")
    stripe: StripeOut
    services: list[ServiceOut]
    packages: list[PackageOut] = Field(default_factory=list, description="Prepaid packages on sale")
    booking: BookingRulesOut
    notifications: NotificationsOut
    owner_sign_in: Annotated[CognitoSignIn | LocalSignIn | NoSignIn, Field(discriminator="mode")]
