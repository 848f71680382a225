"""Domain errors. Each carries its HTTP status and machine-readable code; `booking.http` maps them in one place."""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    retry_after_seconds: ClassVar[int | None] = None

    def __init__(self, message: str, *, fields: dict[str, str] | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        self.details = details


class InvalidRequest(DomainError):
    status = 422
    code = "validation_error"


class UnknownService(InvalidRequest):
    code = "unknown_service"

    def __init__(self, service_id: str) -> None:
        super().__init__(f"No service with id {service_id!r}.", fields={"service_id": "unknown service"})


class InvalidSlot(InvalidRequest):
    """The requested start is not bookable: in the past, inside the minimum notice, or not offered by Cal.com."""

    code = "slot_not_offered"

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message, fields={"start": message}, reason=reason)


class IdempotencyKeyReused(InvalidRequest):
    code = "idempotency_key_reused"

    def __init__(self) -> None:
        super().__init__(
            "This Idempotency-Key was already used with a different request body.",
            fields={"Idempotency-Key": "already used with a different request"},
        )


class PaymentIntentMismatch(InvalidRequest):
    code = "payment_intent_mismatch"

    def __init__(self) -> None:
        super().__init__(
            "The payment_intent_id does not belong to this booking.",
            fields={"payment_intent_id": "does not belong to this booking"},
        )


class RoleTokenRefused(InvalidRequest):
    """create-intent's role_token did not verify (forged, expired, another issuer or audience, an unknown key or
    algorithm, no role claim) or roles are off: nothing is held. `reason` is machine-readable; never the token."""

    code = "role_token_refused"

    def __init__(self, problem: str, *, reason: str) -> None:
        super().__init__(
            f"The sign-in token was not accepted: {problem}.", fields={"role_token": problem}, reason=reason
        )


class NotFound(DomainError):
    status = 404
    code = "not_found"


class BookingNotFound(NotFound):
    code = "booking_not_found"

    def __init__(self, booking_id: str) -> None:
        super().__init__(f"No booking with id {booking_id!r}.", fields={"booking_id": "unknown booking"})


class TokenNotFound(NotFound):
    code = "token_not_found"

    def __init__(self) -> None:
        super().__init__("This booking link is not valid.", fields={"token": "unknown token"})


class TokenExpired(DomainError):
    status = 410
    code = "token_expired"

    def __init__(self) -> None:
        super().__init__(
            "This booking link has expired. Your payment is safe; ask for a new link or contact us.",
            fields={"token": "expired"},
        )


class Conflict(DomainError):
    status = 409
    code = "conflict"


class SlotTaken(Conflict):
    code = "slot_taken"

    def __init__(self) -> None:
        super().__init__("Someone else is booking this time. Please pick another slot.", fields={"start": "taken"})


class SlotUnavailable(Conflict):
    code = "slot_unavailable"

    def __init__(self, booking_id: str, service_id: str | None = None) -> None:
        super().__init__(
            "The calendar no longer has this time. Your payment is safe; please pick another time.",
            booking_id=booking_id,
            service_id=service_id,  # the page offering another time shows this service's slots
            action="pick_another_time",
        )


class PromoUnavailable(Conflict):
    """One answer for every code that cannot be used (unknown, inactive, outside its dates, another service, used
    up): the API never tells which codes exist."""

    code = "promo_unavailable"

    def __init__(self) -> None:
        super().__init__(
            "This promo code cannot be used for this booking.", fields={"promo_code": "not valid for this booking"}
        )


class PromoCodeExists(Conflict):
    code = "promo_code_exists"

    def __init__(self, promo_code: str) -> None:
        super().__init__(f"There is a promo code {promo_code} already.", fields={"code": "already exists"})


class PromoCodeNotFound(NotFound):
    code = "promo_code_not_found"

    def __init__(self, promo_code: str) -> None:
        super().__init__(f"No promo code {promo_code}.", fields={"code": "unknown promo code"})


class RateLimited(DomainError):
    """Too many requests from one source: retry after the seconds left in the current window (at least 1)."""

    status = 429
    code = "rate_limited"

    def __init__(self, retry_after_seconds: int) -> None:
        seconds = max(1, retry_after_seconds)
        super().__init__(f"Too many requests; please try again in {seconds} seconds.")
        self.retry_after_seconds = seconds  # type: ignore[misc]  # the window's rest, not a class default


class PackageUnavailable(Conflict):
    code = "package_unavailable"

    def __init__(self, reason: str) -> None:
        super().__init__(f"This package cannot book this session: {reason}.", fields={"package": reason})


class PackageNotFound(NotFound):
    """An unknown package and a wrong secret get this same answer: package ids cannot be enumerated."""

    code = "package_not_found"

    def __init__(self) -> None:
        super().__init__("No package with this id and secret.", fields={"package_id": "unknown package or secret"})


class PackageNotRefundable(Conflict):
    code = "package_not_refundable"

    def __init__(self, package_id: str, status: str) -> None:
        super().__init__(
            f"Package {package_id} is {status.lower()}: nothing was paid to refund.",
            package_id=package_id,
            package_status=status,
        )


class PurchaseComplete(Conflict):
    """A replayed purchase of a package already paid (or cancelled): its secret cannot be handed out again."""

    code = "package_purchase_complete"

    def __init__(self, package_id: str, status: str) -> None:
        super().__init__(
            f"This purchase is done (package {package_id} is {status.lower()}); use the secret it gave.",
            package_id=package_id,
            package_status=status,
        )


class CalendarBookingCancelled(Conflict):
    code = "calendar_booking_cancelled"

    def __init__(self, booking_id: str) -> None:
        super().__init__(
            "This booking was cancelled in the calendar; it will not be booked again.", booking_id=booking_id
        )


class PaymentNotSucceeded(Conflict):
    code = "payment_not_succeeded"

    def __init__(self, payment_status: str, reason: str | None = None) -> None:
        super().__init__(
            f"The payment has not succeeded (status: {payment_status}).", payment_status=payment_status, reason=reason
        )


class PaymentAmountMismatch(Conflict):
    code = "payment_amount_mismatch"

    def __init__(self, expected: int, received: int, currency: str) -> None:
        super().__init__(
            "The payment received does not match the price of this booking; the owner has been notified.",
            expected=expected,
            received=received,
            currency=currency,
        )


class BookingClosed(Conflict):
    """The booking can no longer take this step (expired, cancelled, ...)."""

    code = "booking_closed"

    def __init__(self, booking_id: str, status: str, message: str | None = None) -> None:
        super().__init__(message or f"Booking {booking_id} is {status}.", booking_id=booking_id, booking_status=status)


class ServiceUnavailable(DomainError):
    status = 503
    code = "service_unavailable"
    retry_after_seconds = 5


class PaymentProviderUnavailable(ServiceUnavailable):
    code = "payment_provider_unavailable"


class CalendarUnavailable(ServiceUnavailable):
    code = "calendar_unavailable"


class CalendarRateLimited(CalendarUnavailable):
    """Cal.com's rate limit holds our API key back: retry after the seconds Cal.com said (at least 1)."""

    code = "calendar_rate_limited"

    def __init__(self, retry_after_seconds: int) -> None:
        seconds = max(1, retry_after_seconds)
        super().__init__(f"The calendar is busy right now; please try again in {seconds} seconds.")
        self.retry_after_seconds = seconds  # type: ignore[misc]  # Cal.com's wait, not the class default


class MoneyInFlight(ServiceUnavailable):
    """Another worker holds the booking's money lease (a refund, transfer or reversal in flight): retry."""

    code = "money_in_flight"


class ConfirmationInProgress(ServiceUnavailable):
    code = "confirmation_in_progress"
    retry_after_seconds = 2


class RoleKeysUnavailable(ServiceUnavailable):
    """The site's sign-in keys (ROLE_JWKS_URL) cannot be read: a role token cannot be checked now."""

    code = "role_keys_unavailable"


class BadGateway(DomainError):
    status = 502
    code = "bad_gateway"


class PaymentProviderError(BadGateway):
    code = "payment_provider_error"


class CalendarError(BadGateway):
    code = "calendar_error"


class InvalidSignature(DomainError):
    """A webhook whose signature does not verify: nothing is written."""

    status = 400
    code = "invalid_signature"

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status  # type: ignore[misc]  # Cal.com: 400 when missing, 401 when wrong


class InvalidEvent(DomainError):
    """A correctly signed webhook whose content we cannot read: nothing is written."""

    status = 400
    code = "invalid_event"

    @classmethod
    def from_validation(cls, source: str, error: Exception) -> InvalidEvent:
        from pydantic import ValidationError

        fields: dict[str, str] = {}
        if isinstance(error, ValidationError):
            for problem in error.errors():
                fields.setdefault(".".join(str(part) for part in problem["loc"]) or "body", problem["msg"])
        return cls(
            f"This {source} event is signed but not in the shape we expect.", fields=fields or {"body": str(error)}
        )
