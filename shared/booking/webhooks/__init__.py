"""Stripe and Cal.com events: the inbox that stores them once and what each one does to a booking."""
