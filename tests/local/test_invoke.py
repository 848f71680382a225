"""`make invoke` (`python -m local invoke`) on a fresh runner, as a new developer uses it: every shipped example of
every function succeeds, the default is the function's own example, and a failing handler is reported as such."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from local.fixtures import examples
from local.spawn import SpawnedRunner, clean_env, free_port, spawned_runner
from local.template import ROOT, functions


@pytest.fixture(scope="module")
def runner() -> Iterator[SpawnedRunner]:
    with spawned_runner() as spawned:
        yield spawned


def invoke(runner_api: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "local", "invoke", *args, "--api", runner_api],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def answer_of(printed: str) -> dict:
    """The runner's JSON answer, printed after the lines saying what was prepared."""
    lines = printed.splitlines()
    return json.loads("\n".join(lines[lines.index("{") :]))


def test_every_shipped_example_and_schedule_succeeds_on_one_fresh_runner(runner: SpawnedRunner) -> None:
    # Given a fresh runner and every example event the functions ship with, and each scheduled function
    cases = [(fn, path) for fn in functions() for path in examples(fn)]
    cases += [(fn, None) for fn, spec in functions().items() if spec.schedules and not examples(fn)]
    assert len(cases) >= 20

    failures = []
    for logical_id, path in cases:
        # When each is invoked as `make invoke FN=... EVENT=...` (a scheduled one with no EVENT)
        done = invoke(runner.api, logical_id, *([str(path.relative_to(ROOT))] if path else []))
        name = f"{logical_id} {path.name if path else '(schedule)'}"
        if done.returncode != 0:
            failures.append(f"{name}: exit {done.returncode}\n{done.stdout[-1500:]}{done.stderr[-1500:]}")
            continue
        result = answer_of(done.stdout)["result"]
        # Then an API example answers 2xx, a webhook is received, a scheduled run reports no error
        if path is None:
            ok = isinstance(result, dict) and not result.get("errors")
        elif "rawPath" not in json.loads(path.read_text()):  # a stream batch or a schedule's Input (the notifier's)
            ok = isinstance(result, dict) and not result.get("batchItemFailures") and not result.get("errors")
        elif "/webhooks/" in json.loads(path.read_text())["rawPath"]:
            ok = result["statusCode"] == 200 and json.loads(result["body"])["received"] is True
        else:
            ok = 200 <= result["statusCode"] < 300
        if not ok:
            failures.append(f"{name}: {json.dumps(result)[:1500]}")
    assert not failures, "\n\n".join(failures) + "\n" + runner.log_tail()


def test_invoke_without_event_uses_the_functions_own_example_and_says_what_it_prepared(
    runner: SpawnedRunner,
) -> None:
    # When the README's `make invoke FN=CreateTokenFunction` runs with no EVENT
    done = invoke(runner.api, "CreateTokenFunction")

    # Then it took the function's example, made a held and paid booking for it, and create-token answered 201
    assert done.returncode == 0, done.stdout + done.stderr
    assert "functions/create_token/events/create_token.json" in done.stderr
    assert "Preparing POST /bookings/create-token" in done.stdout and "paid 8250 usd on pi_" in done.stdout
    answer = answer_of(done.stdout)
    assert answer["event"] == "create_token.json" and answer["result"]["statusCode"] == 201
    assert "/book/verify?token=" in json.loads(answer["result"]["body"])["verify_url"]


def test_several_examples_default_to_the_first_by_file_name_and_name_the_others(runner: SpawnedRunner) -> None:
    # When a function with two examples is invoked without EVENT, then with one named
    default = invoke(runner.api, "CatalogFunction")
    named = invoke(runner.api, "CatalogFunction", "list_services")
    listed = invoke(runner.api, "CatalogFunction", "--list")

    # Then the first in file-name order ran, the message names the other, and the named one ran when asked
    assert default.returncode == 0 and answer_of(default.stdout)["event"] == "availability.json"
    assert "others: config, list_services, promo_check" in default.stderr
    assert named.returncode == 0 and answer_of(named.stdout)["event"] == "list_services.json"
    assert listed.stdout.splitlines() == [
        "CatalogFunction",
        "  functions/catalog_api/events/availability.json  (default)",
        "  functions/catalog_api/events/config.json",
        "  functions/catalog_api/events/list_services.json",
        "  functions/catalog_api/events/promo_check.json",
    ]


def test_a_handler_that_raises_is_a_500_naming_the_error_and_the_runner_stays_up(
    runner: SpawnedRunner, tmp_path: Path
) -> None:
    # Given an event that is no API Gateway event at all
    event = tmp_path / "not-an-http-event.json"
    event.write_text(json.dumps({"hello": "world"}))

    # When it is invoked in an API function
    done = invoke(runner.api, "CreateIntentFunction", str(event))
    raw = requests.post(f"{runner.api}/_local/invoke/CreateIntentFunction", json={"hello": "world"}, timeout=30)

    # Then the runner answers 500 with the error's type and message, and the CLI says so (not "No local runner")
    assert done.returncode == 1
    assert "No local runner" not in done.stderr and "CreateIntentFunction: " in done.stderr
    assert raw.status_code == 500
    error = raw.json()["error"]
    assert error["code"] == "handler_error" and error["type"] and error["message"]
    assert f"{error['type']}: {error['message']}" in done.stderr
    # And it keeps serving
    assert requests.get(f"{runner.api}/services", timeout=10).status_code == 200


def test_no_runner_and_unknown_names_are_told_apart() -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    absent = invoke(nobody, "CatalogFunction")
    unknown_function = invoke(nobody, "NoSuchFunction")
    unknown_event = invoke(nobody, "CatalogFunction", "no_such_example")

    assert absent.returncode == 1 and f"No local runner at {nobody}" in absent.stderr
    assert unknown_function.returncode == 2 and "CatalogFunction, CreateIntentFunction" in unknown_function.stderr
    assert unknown_event.returncode == 2
    assert "examples of CatalogFunction: availability, config, list_services" in unknown_event.stderr
