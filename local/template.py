"""Read template.yaml the way SAM would: functions, their HTTP routes and schedules, and the DynamoDB tables.

The local runner and the tests both start from here, so a route or an index that exists only in code (and not
in the template) fails locally too.
"""

from __future__ import annotations

import re
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
    authorizer: str | None = None  # the HttpApi authorizer that guards it; None = public


@dataclass(frozen=True)
class JwtAuthorizerSpec:
    """An HttpApi JWT authorizer as written in the template (issuer and audience still intrinsics)."""

    name: str
    identity_source: str
    issuer: Any
    audience: tuple[Any, ...]


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


def jwt_authorizers() -> dict[str, JwtAuthorizerSpec]:
    """The JWT authorizers of the template's HttpApi (the runner serves one API)."""
    found: dict[str, JwtAuthorizerSpec] = {}
    for resource in load_template()["Resources"].values():
        if resource["Type"] != "AWS::Serverless::HttpApi":
            continue
        for name, spec in ((resource.get("Properties") or {}).get("Auth") or {}).get("Authorizers", {}).items():
            configuration = spec["JwtConfiguration"]
            found[name] = JwtAuthorizerSpec(
                name=name,
                identity_source=spec.get("IdentitySource", "$request.header.Authorization"),
                issuer=configuration["issuer"],
                audience=tuple(configuration.get("audience") or ()),
            )
    return found


def _route_authorizer(event_properties: dict[str, Any], resources: dict[str, Any]) -> str | None:
    """The authorizer SAM attaches to an HttpApi event: its own `Auth.Authorizer` (NONE = public), else the
    API's DefaultAuthorizer. Route scopes are not applied locally, so a template that uses them is refused."""
    auth = event_properties.get("Auth") or {}
    if auth.get("AuthorizationScopes"):
        raise ValueError(f"{event_properties['Path']}: AuthorizationScopes are not applied by the local runner")
    if "Authorizer" in auth:
        return None if auth["Authorizer"] == "NONE" else str(auth["Authorizer"])
    api_id = event_properties.get("ApiId")
    api = resources.get(api_id["Ref"]) if isinstance(api_id, dict) and "Ref" in api_id else None
    default = (((api or {}).get("Properties") or {}).get("Auth") or {}).get("DefaultAuthorizer")
    return str(default) if default else None


def resolve(value: Any, references: dict[str, str]) -> Any:
    """Resolve !Ref and !Sub against `references` (logical id or pseudo parameter -> value); other values as is."""
    if isinstance(value, dict) and "Ref" in value:
        return references[value["Ref"]]
    if isinstance(value, dict) and "Fn::Sub" in value:
        return re.sub(r"\$\{([^}]+)\}", lambda match: references[match.group(1)], value["Fn::Sub"])
    return value


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
                route = event["Properties"]
                authorizer = _route_authorizer(route, template["Resources"])
                routes.append(Route(route["Method"].upper(), route["Path"], authorizer))
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


def indexes(table: dict[str, Any]) -> list[dict[str, Any]]:
    """A table's global secondary indexes as a new stack has them. An index behind a condition (`!If`) exists only
    while an older stack upgrades (KeepStatusIndex); a local or test table is always new."""
    return [index for index in table.get("GlobalSecondaryIndexes") or () if "IndexName" in index]


def create_tables(client: Any, names: dict[str, str]) -> None:
    """Create each template table (named by `names[logical_id]`) through a boto3 DynamoDB client."""
    for logical_id, props in tables().items():
        kwargs: dict[str, Any] = {
            "TableName": names[logical_id],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if indexes(props):
            kwargs["GlobalSecondaryIndexes"] = indexes(props)
        if props.get("StreamSpecification"):
            kwargs["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
        client.create_table(**kwargs)
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            client.update_time_to_live(TableName=names[logical_id], TimeToLiveSpecification=ttl)
