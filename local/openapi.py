"""openapi.json: generated from the API functions' own resolvers (their Pydantic models are the contract)."""

from __future__ import annotations

import importlib.util
import json
from typing import Any

from local.template import functions

TITLE = "Booking deposits API"
VERSION = "1.0.0"
DESCRIPTION = (
    "Hold a slot, take a Stripe deposit (or the full price), confirm the booking in Cal.com. "
    "Amounts are integers in the currency's minor unit. Errors: "
    '{"error": {"code", "message", "fields"?: [{"field", "message"}]}}.'
)


def _resolver_schema(logical_id: str) -> dict[str, Any] | None:
    spec = functions()[logical_id]
    if not spec.routes:
        return None
    module_spec = importlib.util.spec_from_file_location(f"openapi_{logical_id}", spec.module_file)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return json.loads(module.app.get_openapi_json_schema(title=TITLE, version=VERSION))


def build() -> dict[str, Any]:
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": VERSION, "description": DESCRIPTION},
        "paths": {},
        "components": {"schemas": {}},
    }
    for logical_id in sorted(functions()):
        schema = _resolver_schema(logical_id)
        if schema is None:
            continue
        for path, operations in schema.get("paths", {}).items():
            document["paths"].setdefault(path, {}).update(operations)
        for name, component in schema.get("components", {}).get("schemas", {}).items():
            existing = document["components"]["schemas"].setdefault(name, component)
            if existing != component:
                raise ValueError(f"two functions define schema {name!r} differently")
    document["paths"] = dict(sorted(document["paths"].items()))
    document["components"]["schemas"] = dict(sorted(document["components"]["schemas"].items()))
    return document


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=False) + "\n"
