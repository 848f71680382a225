"""template.yaml agrees with the code: handlers, routes, runtime, table, indexes, layer, parameters, openapi.json."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pynamodb.attributes import NumberAttribute
from pynamodb.indexes import GlobalSecondaryIndex
from pynamodb.models import Model

from local.template import ROOT, TEMPLATE, indexes, load_template

RESOURCES: dict[str, Any] = load_template()["Resources"]
FUNCTIONS = {name: res for name, res in RESOURCES.items() if res["Type"] == "AWS::Serverless::Function"}
GLOBALS = load_template().get("Globals", {}).get("Function", {})


def resource_of_type(type_: str) -> tuple[str, dict[str, Any]]:
    [(name, resource)] = [(name, res) for name, res in RESOURCES.items() if res["Type"] == type_]
    return name, resource


def handler_parts(resource: dict[str, Any]) -> tuple[Path, str]:
    props = resource["Properties"]
    module, function = (props.get("Handler") or GLOBALS["Handler"]).rsplit(".", 1)
    return ROOT / props["CodeUri"] / f"{module.replace('.', '/')}.py", function


def load_handler_module(logical_id: str) -> ModuleType:
    path, _ = handler_parts(FUNCTIONS[logical_id])
    spec = importlib.util.spec_from_file_location(f"template_test_{logical_id}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DEFAULT_ROUTE = ("ANY", "$default")  # API Gateway's catch-all; the function's resolver answers it with not_found


def template_routes(resource: dict[str, Any]) -> set[tuple[str, str]]:
    """The routes of the template's HttpApi events sending to this function, but the `$default` route."""
    events = resource["Properties"].get("Events") or {}
    return {
        (event["Properties"]["Method"].upper(), event["Properties"]["Path"])
        for event in events.values()
        if event["Type"] == "HttpApi"
    } - {DEFAULT_ROUTE}


def resolver_routes(module: ModuleType) -> set[tuple[str, str]]:
    app = getattr(module, "app", None)
    if app is None:
        return set()
    routes = [*app._static_routes, *app._dynamic_routes]
    # Powertools writes path parameters as <name>, SAM as {name}
    return {(route.method.upper(), re.sub(r"<(\w+)>", r"{\1}", route.path)) for route in routes}


def test_template_has_the_core_flow_functions() -> None:
    routes = {route for resource in FUNCTIONS.values() for route in template_routes(resource)}
    assert {
        ("GET", "/services"),
        ("GET", "/availability"),
        ("POST", "/payments/create-intent"),
        ("POST", "/bookings/create-token"),
        ("POST", "/bookings/verify"),
    } <= routes


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_every_function_has_its_handler_file_and_lambda_handler(logical_id: str) -> None:
    # Given the function's CodeUri and Handler
    path, function = handler_parts(FUNCTIONS[logical_id])
    # Then the file exists, and loading it gives a callable of that name
    assert path.is_file(), f"{logical_id}: {path} does not exist"
    assert function == "lambda_handler"
    assert callable(getattr(load_handler_module(logical_id), function))


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_every_http_route_is_served_by_its_functions_resolver_and_vice_versa(logical_id: str) -> None:
    # Given the routes the template sends to this function and the routes its resolver has
    in_template = template_routes(FUNCTIONS[logical_id])
    in_code = resolver_routes(load_handler_module(logical_id))
    # Then they are the same set: no route API Gateway sends that the code 404s, no dead route in code
    assert in_template == in_code


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_every_http_event_is_on_the_http_api(logical_id: str) -> None:
    api_name, _ = resource_of_type("AWS::Serverless::HttpApi")
    for event in (FUNCTIONS[logical_id]["Properties"].get("Events") or {}).values():
        if event["Type"] == "HttpApi":
            assert event["Properties"]["ApiId"] == {"Ref": api_name}


def test_globals_set_python313_arm64_and_active_tracing() -> None:
    assert GLOBALS["Runtime"] == "python3.13"
    assert GLOBALS["Architectures"] == ["arm64"]
    assert GLOBALS["Tracing"] == "Active"
    for logical_id, resource in FUNCTIONS.items():
        props = resource["Properties"]
        assert props.get("Runtime", "python3.13") == "python3.13", logical_id
        assert props.get("Architectures", ["arm64"]) == ["arm64"], logical_id
        assert props.get("Tracing", "Active") == "Active", logical_id


def test_globals_configure_powertools() -> None:
    variables = GLOBALS["Environment"]["Variables"]
    assert variables["POWERTOOLS_SERVICE_NAME"]
    assert variables["POWERTOOLS_METRICS_NAMESPACE"]


def test_table_is_on_demand_with_point_in_time_recovery_and_ttl_on_expires_ttl() -> None:
    _, table = resource_of_type("AWS::DynamoDB::Table")
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_ttl", "Enabled": True}


def model_classes() -> list[type[Model]]:
    from booking.dal import items

    return [
        value
        for value in vars(items).values()
        if isinstance(value, type) and issubclass(value, Model) and value is not Model
    ]


def test_ttl_attribute_is_the_one_the_models_write() -> None:
    from pynamodb.attributes import TTLAttribute

    ttl_names = {
        name
        for model in model_classes()
        for name, attribute in model.get_attributes().items()
        if isinstance(attribute, TTLAttribute)
    }
    assert ttl_names == {"expires_ttl"}


def test_table_keys_match_the_models() -> None:
    _, table = resource_of_type("AWS::DynamoDB::Table")
    schema = {key["KeyType"]: key["AttributeName"] for key in table["Properties"]["KeySchema"]}
    for model in model_classes():
        assert model._hash_keyname == schema["HASH"], model.__name__
        assert model._range_keyname == schema["RANGE"], model.__name__


def test_gsis_in_the_template_match_the_pynamodb_indexes() -> None:
    # Given the indexes the template creates and the ones the PynamoDB models query
    _, table = resource_of_type("AWS::DynamoDB::Table")
    props = table["Properties"]
    in_template = {
        gsi["IndexName"]: {key["KeyType"]: key["AttributeName"] for key in gsi["KeySchema"]} for gsi in indexes(props)
    }
    in_code: dict[str, dict[str, str]] = {}
    attribute_types: dict[str, str] = {}
    for model in model_classes():
        for index in vars(model).values():
            if not isinstance(index, GlobalSecondaryIndex):
                continue
            keys: dict[str, str] = {}
            for name, attribute in index.Meta.attributes.items():
                if attribute.is_hash_key:
                    keys["HASH"] = name
                if attribute.is_range_key:
                    keys["RANGE"] = name
                attribute_types[name] = "N" if isinstance(attribute, NumberAttribute) else "S"
            in_code[index.Meta.index_name] = keys
    # Then they are the same indexes on the same key attributes, with the right attribute types
    assert in_code == in_template
    assert in_code  # the models do have indexes (DueIndex, SlotIndex)
    defined = {d["AttributeName"]: d["AttributeType"] for d in props["AttributeDefinitions"]}
    for name, type_ in attribute_types.items():
        assert defined.get(name) == type_, name


def test_layer_is_the_shared_folder_without_a_python_subfolder() -> None:
    layer_name, layer = resource_of_type("AWS::Serverless::LayerVersion")
    assert layer["Properties"]["ContentUri"] == "shared/"
    assert (ROOT / "shared" / "booking").is_dir()
    assert not (ROOT / "shared" / "python").exists()
    assert {"Ref": layer_name} in GLOBALS["Layers"]


SECRET_PATTERNS = re.compile(r"(sk|rk|pk)_(live|test)_\w+|whsec_\w+|cal_(live_)?[A-Za-z0-9]{12,}|AKIA[0-9A-Z]{16}")
SECRET_NAMES = re.compile(r"secret|password|api_?key|token$|webhook", re.IGNORECASE)


def test_parameters_have_no_secret_looking_defaults() -> None:
    parameters: dict[str, Any] = load_template().get("Parameters", {})
    for name, parameter in parameters.items():
        default = str(parameter.get("Default", ""))
        assert not SECRET_PATTERNS.search(default), f"{name} defaults to a key-like value"
        if SECRET_NAMES.search(name):
            assert "Default" not in parameter, f"{name} looks like a secret and has a default"
            assert parameter.get("NoEcho") is True, f"{name} looks like a secret and is not NoEcho"


def test_template_holds_no_provider_key_anywhere() -> None:
    text = TEMPLATE.read_text(encoding="utf-8")
    assert not SECRET_PATTERNS.search(text)
    variables = GLOBALS["Environment"]["Variables"]
    assert not {"STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "CAL_API_KEY", "CAL_WEBHOOK_SECRET"} & set(variables)


def test_committed_openapi_json_is_what_the_code_generates() -> None:
    from local.openapi import render

    committed = (ROOT / "openapi.json").read_text(encoding="utf-8")
    assert committed == render(), "openapi.json is stale: run `make openapi`"


def test_every_admin_route_and_only_those_need_the_owners_cognito_token() -> None:
    from local.template import functions, jwt_authorizers

    routes = [route for spec in functions().values() for route in spec.routes]
    assert {route.authorizer for route in routes if route.path.startswith("/admin/")} == {"OwnerJwt"}
    assert {route.authorizer for route in routes if not route.path.startswith("/admin/")} == {None}
    authorizer = jwt_authorizers()["OwnerJwt"]
    assert authorizer.issuer == {"Fn::Sub": "https://cognito-idp.${AWS::Region}.amazonaws.com/${OwnerUserPool}"}
    assert authorizer.audience == ({"Ref": "OwnerDashboardClient"},)


def test_the_user_pool_is_invitation_only_with_owner_and_staff_groups() -> None:
    from local.template import load_template

    resources = load_template()["Resources"]
    pool = resources["OwnerUserPool"]["Properties"]
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    groups = {
        res["Properties"]["GroupName"] for res in resources.values() if res["Type"] == "AWS::Cognito::UserPoolGroup"
    }
    assert groups == {"owner", "staff"}
    client = resources["OwnerDashboardClient"]["Properties"]
    assert client["GenerateSecret"] is False and client["AllowedOAuthFlows"] == ["code"]
    assert {"OwnerUserPoolId", "OwnerDashboardClientId", "OwnerTokenIssuer"} <= set(load_template()["Outputs"])


# --- the API's edge ------------------------------------------------------------------------------------------


def http_events() -> list[tuple[str, dict[str, Any]]]:
    return [
        (logical_id, event["Properties"])
        for logical_id, resource in FUNCTIONS.items()
        for event in (resource["Properties"].get("Events") or {}).values()
        if event["Type"] == "HttpApi"
    ]


def test_the_layers_route_list_is_the_templates() -> None:
    from booking.routes import ROUTES

    # The $default route's function tells 404 from 405 with this list: it must be every route, and only those
    in_template = {route for resource in FUNCTIONS.values() for route in template_routes(resource)}
    assert set(ROUTES) == in_template


def test_one_public_default_route_answers_unmatched_requests_in_our_error_shape() -> None:
    defaults = [(logical_id, props) for logical_id, props in http_events() if props["Path"] == "$default"]
    assert len(defaults) == 1
    [(logical_id, props)] = defaults
    assert logical_id == "CatalogFunction"
    assert props["Method"].upper() == "ANY"
    assert props["Auth"] == {"Authorizer": "NONE"}  # an unknown path gets 404, not the gateway's 401


def test_config_is_public() -> None:
    [props] = [props for _, props in http_events() if props["Path"] == "/config"]
    assert props["Method"] == "GET" and props["Auth"] == {"Authorizer": "NONE"}


def test_cors_allows_the_site_origins_parameter_and_exposes_retry_after() -> None:
    parameters = load_template()["Parameters"]
    assert "SiteOrigin" not in parameters
    assert parameters["SiteOrigins"]["Type"] == "CommaDelimitedList"
    assert parameters["SiteOrigins"]["Default"] == "http://localhost:8080"
    _, api = resource_of_type("AWS::Serverless::HttpApi")
    cors = api["Properties"]["CorsConfiguration"]
    assert cors["AllowOrigins"] == {"Ref": "SiteOrigins"}
    assert "retry-after" in cors["ExposeHeaders"]
    assert {"content-type", "idempotency-key", "authorization"} <= set(cors["AllowHeaders"])


def test_the_publishable_key_is_a_required_parameter_given_to_the_functions() -> None:
    parameter = load_template()["Parameters"]["StripePublishableKey"]
    assert "Default" not in parameter  # each deployment says which account's key; none is written down
    pattern = re.compile(parameter["AllowedPattern"])
    assert pattern.match("pk_test_51Hx0abcDEF") and pattern.match("pk_live_51Hx0abcDEF")
    assert not pattern.match("sk_test_51Hx0abcDEF") and not pattern.match("pk_test_")
    assert GLOBALS["Environment"]["Variables"]["STRIPE_PUBLISHABLE_KEY"] == {"Ref": "StripePublishableKey"}


def test_config_is_told_the_hosted_sign_in_of_the_dashboard_client() -> None:
    variables = FUNCTIONS["CatalogFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["OWNER_SIGN_IN_MODE"] == {"Fn::If": ["HasOwnerSignInDomain", "cognito", "none"]}
    assert variables["OWNER_CLIENT_ID"] == {"Ref": "OwnerDashboardClient"}
    client = RESOURCES["OwnerDashboardClient"]["Properties"]
    # The redirect the page sends must be one Cognito accepts for that client
    assert variables["OWNER_REDIRECT_URI"] == client["CallbackURLs"][0]
    assert variables["OWNER_LOGOUT_URL"] == client["LogoutURLs"][0]


def test_openapi_secures_exactly_the_routes_behind_the_templates_authorizer() -> None:
    import json

    from local.template import functions

    document = json.loads((ROOT / "openapi.json").read_text(encoding="utf-8"))
    guarded = {
        (route.method.lower(), route.path): route.authorizer
        for spec in functions().values()
        for route in spec.routes
        if route.path != "$default"
    }
    documented = {
        (method, path): operation.get("security")
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }
    assert set(documented) == set(guarded)
    for key, authorizer in guarded.items():
        assert documented[key] == ([{authorizer: []}] if authorizer else None), key
        if authorizer:
            assert "401" in document["paths"][key[1]][key[0]]["responses"], key
    schemes = document["components"]["securitySchemes"]
    assert set(schemes) == {authorizer for authorizer in guarded.values() if authorizer}
    assert all(scheme["type"] == "http" and scheme["scheme"] == "bearer" for scheme in schemes.values())
    assert [server["url"] for server in document["servers"]] == [
        "https://{apiId}.execute-api.{region}.amazonaws.com",
        "http://127.0.0.1:3000",
    ]
