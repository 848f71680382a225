"""What the local runner's table starts with: the seeds' owner-managed data (promo codes).

Seed 003 (the coaching business) hands out `WIMD25`: a free session, 25 uses, any service. Each code is written
only if absent, so restarting the runner against the same table keeps the uses already taken.
"""

from __future__ import annotations


def seed_promo_codes() -> list[str]:
    """Write the seed's promo codes that are not in the table yet; returns the codes written."""
    from booking.clock import now
    from booking.dal import promos  # after the runner configured the table (the items read it at import)

    seeds = [
        promos.Promo(
            code="WIMD25",
            kind="free",
            value=None,
            max_uses=25,
            uses_taken=0,
            valid_from=None,
            valid_until=None,
            services=None,
            active=True,
            created_at=now(),
            created_by="seed:003",
        )
    ]
    return [promo.code for promo in seeds if promos.add_if_absent(promo)]
