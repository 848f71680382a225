"""The one Logger and Metrics of every function (service name and namespace come from the template).

No X-Ray SDK (Powertools' Tracer): it cost ~18-20 ms of every cold start's import (bench/cold_start.py --imports)
and a subsegment per DynamoDB, Secrets Manager, SNS, SES, Stripe and Cal.com call. Active tracing (template.yaml)
still records each invocation's segment (initialization, invocation, overhead); what is no longer in X-Ray is the
per-call subsegments and the handler subsegment's ColdStart annotation. The logs keep every field they had.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics()
