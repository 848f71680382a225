"""What template.yaml lets each function do: its `Policies`, read into (action, resource) permissions.

Resources are named by the template's logical ids, so the permissions read like the template: `("dynamodb:Query",
"BookingsTable/index/SlotIndex")`, `("secretsmanager:GetSecretValue", "StripeSecretKeySecret")`, `("sns:Publish",
"OwnerAlertsTopic")`. Only the policy forms the template uses for least privilege are understood (inline Allow
statements on named resources, and the SAM templates scoped to one secret or topic); any other policy, a broad
SAM template such as DynamoDBCrudPolicy or a managed policy, is refused, so it cannot slip past the tests that
pin each function's permissions (tests/infrastructure/test_permissions.py).
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from local.template import load_template


class Permission(NamedTuple):
    action: str
    resource: str


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


SES_IDENTITY = "SesIdentity"  # the one SES identity the template lets the notifier send as (NotifyFromEmail's)


def resource_name(value: Any) -> str:
    """`!GetAtt T.Arn` -> T; `!Sub ${T.Arn}/index/I` -> T/index/I; `!Ref X` -> X; the SES identity ARN ->
    SesIdentity."""
    if isinstance(value, dict) and isinstance(value.get("Fn::Sub"), list):
        template = str(value["Fn::Sub"][0])
        if re.fullmatch(
            r"arn:\$\{AWS::Partition\}:ses:\$\{AWS::Region\}:\$\{AWS::AccountId\}:identity/\$\{\w+\}", template
        ):
            return SES_IDENTITY
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        logical_id, attribute = target if isinstance(target, list) else str(target).split(".", 1)
        if attribute not in ("Arn", "TopicName"):
            raise ValueError(f"unsupported resource attribute {attribute} of {logical_id}")
        return str(logical_id)
    if isinstance(value, dict) and "Fn::Sub" in value:
        match = re.fullmatch(r"\$\{(\w+)\.Arn\}(/index/[\w*-]+)?", str(value["Fn::Sub"]))
        if match:
            return match.group(1) + (match.group(2) or "")
    raise ValueError(f"unsupported policy resource {value!r}: name a resource of the template")


def _statement_permissions(statement: dict[str, Any]) -> set[Permission]:
    if statement.get("Effect") != "Allow" or "NotAction" in statement or "NotResource" in statement:
        raise ValueError(f"only Allow statements with Action and Resource are understood: {statement!r}")
    return {
        # A text to a phone number has no ARN: sns:Publish on "*" is the one wildcard understood (and pinned).
        Permission(str(action), "*" if (resource, action) == ("*", "sns:Publish") else resource_name(resource))
        for action in _listed(statement["Action"])
        for resource in _listed(statement["Resource"])
    }


def policy_permissions(policy: Any) -> set[Permission]:
    """The permissions one entry of a function's `Policies` grants."""
    if isinstance(policy, dict) and set(policy) == {"Statement"}:
        return {p for statement in _listed(policy["Statement"]) for p in _statement_permissions(statement)}
    if isinstance(policy, dict) and set(policy) == {"AWSSecretsManagerGetSecretValuePolicy"}:
        return {Permission("secretsmanager:GetSecretValue", resource_name(policy[next(iter(policy))]["SecretArn"]))}
    if isinstance(policy, dict) and set(policy) == {"SNSPublishMessagePolicy"}:
        return {Permission("sns:Publish", resource_name(policy[next(iter(policy))]["TopicName"]))}
    if isinstance(policy, dict) and set(policy) == {"Fn::If"}:
        # A grant behind a template condition (the SES identity once configured, SMS once switched on): the
        # tests run with each switched on, so the grant is checked as if it held.
        _, granted, otherwise = policy["Fn::If"]
        return {
            p
            for branch in (granted, otherwise)
            if branch != {"Ref": "AWS::NoValue"}
            for p in policy_permissions(branch)
        }
    raise ValueError(f"unsupported policy {policy!r}: grant named actions on named resources")


def function_permissions() -> dict[str, frozenset[Permission]]:
    """Logical id of each function -> everything its policies allow."""
    found: dict[str, frozenset[Permission]] = {}
    for logical_id, resource in load_template()["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            policies = _listed(resource["Properties"].get("Policies") or [])
            found[logical_id] = frozenset(p for policy in policies for p in policy_permissions(policy))
    return found
