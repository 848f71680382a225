"""POST /packages/purchase and GET /packages/{package_id}: a client buys prepaid sessions and sees their credits.

Public routes: the package's secret (header X-Package-Secret) is what opens it; an unknown id and a wrong secret
get the same 404, so package ids cannot be enumerated.
"""

from __future__ import annotations

from typing import Annotated

from booking.flows import packages
from booking.http import Header, Path, api_handler, create_app, responses

app = create_app()


@app.post(
    "/packages/purchase",
    status_code=201,
    summary="Buy a package: a pending package and its PaymentIntent (the client pays it with Stripe.js)",
    tags=["packages"],
    responses=responses(
        201, "The package's id and secret, and what Stripe.js needs to pay it", 400, 404, 409, 422, 502, 503
    ),
)
def purchase(
    body: packages.PurchaseRequest,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key", max_length=255, description="A retry with the same key answers the same package"
        ),
    ] = None,
) -> packages.PackagePurchase:
    return packages.purchase(body, idempotency_key)


@app.get(
    "/packages/<package_id>",
    summary="A package's credits (used, remaining) and the bookings they paid for",
    tags=["packages"],
    responses=responses(200, "The package (activated now if Stripe says it was paid)", 404, 422, 502, 503),
)
def get_package(
    package_id: Annotated[str, Path(max_length=64)],
    package_secret: Annotated[
        str | None, Header(alias="X-Package-Secret", max_length=256, description="The secret given at purchase")
    ] = None,
) -> packages.PackageView:
    return packages.client_view(package_id, package_secret)


lambda_handler = api_handler(app)
