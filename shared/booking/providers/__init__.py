"""The one client of each outside service: Stripe (payments) and Cal.com."""
