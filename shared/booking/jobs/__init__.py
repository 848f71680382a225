"""Scheduled jobs: cleanup (holds, inbox, money sweep, reconciliation) and provider payouts."""
