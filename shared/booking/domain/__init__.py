"""The business's rules, with no I/O: the booking life cycle, the catalog, pricing, the cancellation policy and
the domain models.
"""
