"""Vendor the part of Cal.com's official API v2 OpenAPI document that our code and the Cal.com double use.

Run by hand when the official document is refreshed:

    python tests/contracts/vendor_calcom_openapi.py /path/to/calcom-api-v2-openapi.json

It writes `calcom-api-v2.subset.json` next to this script: a valid OpenAPI 3.0 document holding only the
operations in `OPERATIONS` and every component they reference (transitively). Every vendored value is the
official definition unchanged; the only addition is `x-vendored-from` (source file name and its sha256) so a
reader can tell which upstream document the contract came from. Tests never read the source document.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# (path, method, operationId): the operationId is checked so a renamed upstream operation fails loudly
# instead of vendoring something else under the same path.
OPERATIONS: tuple[tuple[str, str, str], ...] = (
    ("/v2/slots", "get", "SlotsController_2024_09_04_getAvailableSlots"),
    ("/v2/bookings", "post", "BookingsController_2024_08_13_createBooking"),
    ("/v2/bookings", "get", "BookingsController_2024_08_13_getBookings"),
    ("/v2/bookings/{bookingUid}", "get", "BookingsController_2024_08_13_getBooking"),
    ("/v2/bookings/{bookingUid}/cancel", "post", "BookingsController_2024_08_13_cancelBooking"),
    ("/v2/bookings/{bookingUid}/reschedule", "post", "BookingsController_2024_08_13_rescheduleBooking"),
)

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "calcom-api-v2.subset.json"
COMPONENT_PREFIX = "#/components/"


class VendorError(Exception):
    """The source document does not hold what we expect to vendor."""


def iter_refs(node: Any) -> Iterator[str]:
    """Every `$ref` string anywhere below `node`."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from iter_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from iter_refs(item)


def split_component_ref(ref: str) -> tuple[str, str]:
    """`#/components/schemas/Foo` -> ("schemas", "Foo"); only local component refs are supported."""
    if not ref.startswith(COMPONENT_PREFIX):
        raise VendorError(f"unsupported $ref {ref!r}: only local #/components/... refs can be vendored")
    parts = ref[len(COMPONENT_PREFIX) :].split("/")
    if len(parts) != 2:
        raise VendorError(f"unsupported $ref {ref!r}: expected #/components/<section>/<name>")
    return parts[0], parts[1]


def collect_components(source: dict[str, Any], roots: list[Any]) -> dict[str, set[str]]:
    """Names of the components reachable from `roots`, per section, following refs inside components too."""
    components = source.get("components", {})
    needed: dict[str, set[str]] = {}
    pending = [ref for root in roots for ref in iter_refs(root)]
    while pending:
        section, name = split_component_ref(pending.pop())
        if name in needed.get(section, set()):
            continue
        try:
            definition = components[section][name]
        except KeyError:
            raise VendorError(f"dangling $ref #/components/{section}/{name}") from None
        needed.setdefault(section, set()).add(name)
        pending.extend(iter_refs(definition))
    return needed


def build_subset(source: dict[str, Any], source_name: str, source_sha256: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for path, method, operation_id in OPERATIONS:
        try:
            operation = source["paths"][path][method]
        except KeyError:
            raise VendorError(f"{method.upper()} {path} is missing from the source document") from None
        if operation.get("operationId") != operation_id:
            found = operation.get("operationId")
            raise VendorError(f"{method.upper()} {path} has operationId {found!r}, expected {operation_id!r}")
        paths.setdefault(path, {})[method] = copy.deepcopy(operation)
    # Path-level keys (shared parameters, summary) belong to every operation under the path.
    for path, item in paths.items():
        for key, value in source["paths"][path].items():
            if key not in item and key not in {"get", "put", "post", "delete", "options", "head", "patch", "trace"}:
                item[key] = copy.deepcopy(value)

    needed = collect_components(source, list(paths.values()))
    components: dict[str, dict[str, Any]] = {}
    # Keep the source's section and name order so the subset diffs cleanly against upstream refreshes.
    for section, definitions in source.get("components", {}).items():
        if section in needed:
            components[section] = {
                name: copy.deepcopy(value) for name, value in definitions.items() if name in needed[section]
            }

    subset: dict[str, Any] = {"openapi": source["openapi"], "info": copy.deepcopy(source["info"])}
    subset["x-vendored-from"] = {
        "source": source_name,
        "sha256": source_sha256,
        "operations": [operation_id for _, _, operation_id in OPERATIONS],
    }
    # An empty `servers` list is kept out: OpenAPI treats an absent list as server "/", an empty one is legal
    # but some tools then match no server at all.
    for key in ("tags", "servers"):
        if source.get(key):
            subset[key] = copy.deepcopy(source[key])
    subset["paths"] = paths
    subset["components"] = components
    return subset


def check_unchanged(source: dict[str, Any], subset: dict[str, Any]) -> None:
    """Guard the promise that every vendored definition equals the official one."""
    for path, item in subset["paths"].items():
        for key, value in item.items():
            if source["paths"][path][key] != value:
                raise VendorError(f"paths[{path}][{key}] differs from the source")
    for section, definitions in subset["components"].items():
        for name, value in definitions.items():
            if source["components"][section][name] != value:
                raise VendorError(f"components[{section}][{name}] differs from the source")
    if subset["info"] != source["info"]:
        raise VendorError("info differs from the source")


def validate_openapi(document: dict[str, Any]) -> None:
    # Imported here so `--help` works without the dev dependencies installed.
    from openapi_spec_validator import validate

    validate(document)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="the official calcom-api-v2-openapi.json")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"default: {DEFAULT_OUTPUT.name}")
    args = parser.parse_args(argv)

    raw = args.source.read_bytes()
    source = json.loads(raw)
    subset = build_subset(source, args.source.name, hashlib.sha256(raw).hexdigest())
    check_unchanged(source, subset)
    validate_openapi(subset)

    text = json.dumps(subset, indent=2, ensure_ascii=False) + "\n"
    args.output.write_text(text, encoding="utf-8")
    schema_count = sum(len(definitions) for definitions in subset["components"].values())
    print(f"wrote {args.output} ({len(OPERATIONS)} operations, {schema_count} components, {len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
