"""Read template.yaml the way SAM would: functions, their HTTP routes and schedules, and the DynamoDB tables.

The local runner and the tests both start from here, so a route or an index that exists only in code (and not
in the template) fails locally too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that keeps CloudFormation short-form tags (!Ref, !Sub, ...) as {"Fn": value} mappings."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


@dataclass(frozen=True)
class Route:
    method: str
    path: str


@dataclass(frozen=True)
class Schedule:
    name: str
    expression: str
    input: str | None


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_uri: Path
    handler: str
    timeout: int
    memory_mb: int
    environment: dict[str, Any]
    routes: tuple[Route, ...] = field(default=())
    schedules: tuple[Schedule, ...] = field(default=())

    @property
    def module_file(self) -> Path:
        return self.code_uri / f"{self.handler.rsplit('.', 1)[0].replace('.', '/')}.py"

    @property
    def function_name(self) -> str:
        return self.handler.rsplit(".", 1)[1]


@lru_cache(maxsize=1)
def load_template() -> dict[str, Any]:
    return yaml.load(TEMPLATE.read_text(encoding="utf-8"), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


def functions() -> dict[str, FunctionSpec]:
    template = load_template()
    defaults = template.get("Globals", {}).get("Function", {})
    specs: dict[str, FunctionSpec] = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        routes, schedules = [], []
        for event_name, event in (props.get("Events") or {}).items():
            if event["Type"] == "HttpApi":
                routes.append(Route(event["Properties"]["Method"].upper(), event["Properties"]["Path"]))
            elif event["Type"] in ("ScheduleV2", "Schedule"):
                schedule = event["Properties"]
                expression = schedule.get("ScheduleExpression") or schedule.get("Schedule")
                schedules.append(Schedule(event_name, str(expression), schedule.get("Input")))
        env = dict(defaults.get("Environment", {}).get("Variables", {}))
        env.update(props.get("Environment", {}).get("Variables", {}))
        specs[logical_id] = FunctionSpec(
            logical_id=logical_id,
            code_uri=ROOT / props["CodeUri"],
            handler=props.get("Handler", defaults.get("Handler", "")),
            timeout=int(props.get("Timeout", defaults.get("Timeout", 3))),
            memory_mb=int(props.get("MemorySize", defaults.get("MemorySize", 128))),
            environment=env,
            routes=tuple(routes),
            schedules=tuple(schedules),
        )
    return specs


def tables() -> dict[str, dict[str, Any]]:
    """Logical id -> the table's Properties, for every AWS::DynamoDB::Table."""
    resources = load_template()["Resources"]
    return {name: res["Properties"] for name, res in resources.items() if res["Type"] == "AWS::DynamoDB::Table"}


def create_tables(client: Any, names: dict[str, str]) -> None:
    """Create each template table (named by `names[logical_id]`) through a boto3 DynamoDB client."""
    for logical_id, props in tables().items():
        kwargs: dict[str, Any] = {
            "TableName": names[logical_id],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if props.get("GlobalSecondaryIndexes"):
            kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        client.create_table(**kwargs)
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            client.update_time_to_live(TableName=names[logical_id], TimeToLiveSpecification=ttl)
