"""The client's path: availability, holds and PaymentIntents, tokens, the Cal.com confirmation, cancellation and
calendar sync.
"""
