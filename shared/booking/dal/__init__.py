"""Data access: the only code that talks to DynamoDB. Every state change is a conditional write."""
