"""The request-counting fixture of the availability-cache tests (every DynamoDB request, raw botocore calls too)
and the blocked-dates tests' Monday-morning clock, shared with these tests."""

from tests.availability_cache.test_availability_cache import dynamodb_requests  # noqa: F401
from tests.integration.test_blocked_dates import tuesday  # noqa: F401
