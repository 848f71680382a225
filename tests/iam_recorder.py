"""What each function really does to AWS while the tests run, checked against what the template grants it.

Installed once for the suite (tests/conftest.py): every invocation through LocalLambda is attributed to its
function (a container serves one event on one thread), and while it runs

- every botocore call (DynamoDB through PynamoDB, SNS, Secrets Manager) becomes the IAM permissions AWS would
  check for it: a transaction needs PutItem / UpdateItem / DeleteItem / ConditionCheckItem for each of its items,
  a query on an index needs Query on that index;
- every provider key read (`booking.secrets.provider_secret`) becomes GetSecretValue on the secret the
  function's template environment names for that key: the tests pass keys in environment variables, so no
  Secrets Manager call happens, but in AWS it would.

A permission used and not granted is a violation; the suite fails the test that caused it (tests/conftest.py),
and tests/infrastructure/test_permissions.py shows that the recorder sees what it should.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from botocore.client import BaseClient

from local.iam import SES_IDENTITY, Permission, function_permissions
from local.lambda_runtime import FunctionPool
from local.template import functions

TRANSACTION_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


class AccessRecorder:
    def __init__(self) -> None:
        self.granted: dict[str, frozenset[Permission]] = function_permissions()
        self.used: dict[str, set[Permission]] = defaultdict(set)
        self.violations: list[str] = []
        self._current = threading.local()
        self._lock = threading.Lock()
        self._environment = {logical_id: spec.environment for logical_id, spec in functions().items()}

    # --- attribution ------------------------------------------------------------------------------------

    @property
    def function(self) -> str | None:
        return getattr(self._current, "function", None)

    @contextmanager
    def serving(self, logical_id: str) -> Iterator[None]:
        outer = self.function
        self._current.function = logical_id
        try:
            yield
        finally:
            self._current.function = outer

    def record(self, permissions: set[Permission]) -> None:
        function = self.function
        if function is None:  # the test's own setup and checks, not a function
            return
        with self._lock:
            self.used[function] |= permissions
            for permission in sorted(permissions - self.granted.get(function, frozenset())):
                self.violations.append(f"{function} used {permission.action} on {permission.resource}: not granted")

    def take_violations(self) -> list[str]:
        with self._lock:
            found, self.violations = self.violations, []
        return found

    # --- what AWS would check ---------------------------------------------------------------------------

    def _logical_id(self, physical: str) -> str:
        """The template resource a table name / topic ARN / secret ARN in the environment stands for."""
        for variables in self._environment.values():
            for name, value in variables.items():
                if isinstance(value, dict) and "Ref" in value and os.environ.get(name) == physical:
                    return str(value["Ref"])
        return physical

    def aws_call(self, service: str, operation: str, params: dict[str, Any]) -> set[Permission]:
        if service == "dynamodb":
            if operation in ("TransactWriteItems", "TransactGetItems"):
                found = set()
                for item in params.get("TransactItems", []):
                    ((kind, detail),) = item.items()
                    action = "GetItem" if kind == "Get" else TRANSACTION_ACTIONS[kind]
                    found.add(Permission(f"dynamodb:{action}", self._logical_id(detail["TableName"])))
                return found
            if operation in ("BatchWriteItem", "BatchGetItem"):
                tables = params.get("RequestItems", {})
                return {Permission(f"dynamodb:{operation}", self._logical_id(table)) for table in tables}
            resource = self._logical_id(params["TableName"])
            if params.get("IndexName"):
                resource += f"/index/{params['IndexName']}"
            return {Permission(f"dynamodb:{operation}", resource)}
        if service == "sns" and operation == "Publish":
            if params.get("PhoneNumber"):  # a text message: no topic, so only a grant on "*" allows it
                return {Permission("sns:Publish", "*")}
            return {Permission("sns:Publish", self._logical_id(params.get("TopicArn", "")))}
        if service == "sesv2" and operation == "SendEmail":
            sender = params.get("FromEmailAddress", "")
            identity = (
                SES_IDENTITY if sender and sender == os.environ.get("NOTIFY_FROM_EMAIL") else f"identity/{sender}"
            )
            return {Permission("ses:SendEmail", identity)}
        if service == "secretsmanager" and operation == "GetSecretValue":
            return {Permission("secretsmanager:GetSecretValue", self._logical_id(params["SecretId"]))}
        return {Permission(f"{service}:{operation}", "*")}

    def secret_read(self, name: str) -> set[Permission]:
        """The secret this function's template environment names for key `name` (NAME_ARN)."""
        function = self.function
        reference = self._environment.get(function or "", {}).get(f"{name.upper()}_ARN")
        if not (isinstance(reference, dict) and "Ref" in reference):
            return {Permission("secretsmanager:GetSecretValue", f"<no {name.upper()}_ARN in its environment>")}
        return {Permission("secretsmanager:GetSecretValue", str(reference["Ref"]))}

    # --- installation -----------------------------------------------------------------------------------

    def install(self) -> None:
        """Wrap FunctionPool.invoke, botocore's API call and every binding of provider_secret, for the session."""
        recorder = self
        invoke = FunctionPool.invoke

        def attributed_invoke(pool: FunctionPool, event: dict[str, Any]) -> Any:
            with recorder.serving(pool.spec.logical_id):
                return invoke(pool, event)

        make_api_call = BaseClient._make_api_call

        def recorded_call(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
            if recorder.function is not None:
                recorder.record(recorder.aws_call(client.meta.service_model.service_name, operation, params))
            return make_api_call(client, operation, params)

        FunctionPool.invoke = attributed_invoke  # type: ignore[method-assign]
        BaseClient._make_api_call = recorded_call  # type: ignore[method-assign]
        self._wrap_provider_secret()

    def _wrap_provider_secret(self) -> None:
        import booking.secrets

        original: Callable[[Any], str] = booking.secrets.provider_secret

        def recorded_secret(name: Any) -> str:
            self.record(self.secret_read(str(name)))
            return original(name)

        # Modules bound the function by name (`from booking.secrets import provider_secret`): rebind it in those
        # loaded already; modules loaded later import the wrapped one from booking.secrets.
        for module in list(sys.modules.values()):
            for attribute, value in list(vars(module).items()) if module is not None else []:
                if value is original:
                    setattr(module, attribute, recorded_secret)
