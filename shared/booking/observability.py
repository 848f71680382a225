"""The one Logger, Tracer and Metrics of every function (service name and namespace come from the template)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
# Only what the product calls out through: botocore (DynamoDB, Secrets Manager, SNS) and requests (Stripe,
# Cal.com). Patching everything X-Ray supports would also import sqlite3 and whatever else is installed, and
# trace every DynamoDB call twice (PynamoDB's patch wraps the same botocore request).
tracer = Tracer(patch_modules=("botocore", "requests"))
metrics = Metrics()
