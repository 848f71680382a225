"""Chaos test: seeded, bounded random interleavings of client steps, webhooks, provider faults, Cal.com and Stripe
Dashboard changes, jobs and clock jumps, checked against the money and calendar invariants (issue 9)."""
