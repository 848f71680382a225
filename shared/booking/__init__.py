"""Booking deposits: the domain, data access and provider clients shared by every function (the Lambda layer)."""
