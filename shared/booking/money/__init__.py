"""Money after the payment, with Stripe as the ledger: settlement under the money lease, refunds, fees, balances
and provider payouts.
"""
