"""The README's local commands, as a new user runs them: `python -m local serve` and the demos."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import requests

from local.template import ROOT

# The suite's own settings (test keys, table) must not leak into the runner: keys would mean "real providers".
SUITE_VARIABLES = ("STRIPE_", "CAL_", "TABLE_NAME", "OWNER_ALERTS", "AWS_", "SITE_BASE_URL", "STAGE")


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(SUITE_VARIABLES) and not k.startswith("POWERTOOLS_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _demo(*args: str) -> str:
    unused = f"http://127.0.0.1:{_free_port()}"  # no runner there: the demo starts an embedded one
    result = subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "local", "demo", "--api", unused, *args],
        cwd=ROOT,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def test_demo_walks_the_site_flow_to_a_confirmed_booking() -> None:
    out = _demo()
    for step in ("GET /services", "GET /availability", "POST /payments/create-intent", "POST /bookings/create-token"):
        assert step in out
    assert "paid 82.50 USD now, balance due 82.50" in out
    assert "is CONFIRMED." in out
    # the client's confirmation with its calendar file, then its reminder once the clock reached a day before
    assert "EMAIL to ada@example.com: Booked: Signature Facial" in out and "[attached: booking.ics]" in out
    assert "ran ExpireHoldsFunction, NotificationsFunction, PayoutsCronFunction" in out
    assert "EMAIL to ada@example.com: Reminder: Signature Facial" in out
    assert "The messages this demo sent (" in out


def test_close_tab_demo_is_finished_by_webhooks_and_cancelled_with_the_policy_refund() -> None:
    out = _demo("--close-tab")
    assert "CONFIRMED by webhooks alone" in out
    assert "is CANCELLED." in out and "refund " in out


def test_jobs_demo_expires_confirms_and_pays_the_provider_once() -> None:
    out = _demo("--jobs")
    assert "listed again: True" in out
    assert "CONFIRMED by the cleanup job" in out
    assert out.count("Stripe transfer tr_") == 1 and "to acct_1LocalBrowArtist" in out


def test_owner_demo_refunds_collects_and_completes_a_pay_link() -> None:
    out = _demo("--owner")
    assert "Refunded 20.00 USD." in out and "Paid in full." in out
    assert "/book/pay?token=" in out and '"status": "requires_payment"' in out
    assert "pay link now: paid" in out
    assert out.count("balance due 0 (paid)") == 2
    assert "balance of 8250 paid (pay_link" in out  # Bea paid it herself on the pay page


def test_options_demo_books_free_with_wimd25_uses_a_package_and_moves_a_booking_off_a_blocked_date() -> None:
    out = _demo("--options")
    assert '"payment_intent_id": null' in out  # WIMD25: no payment at all
    assert "package: 1 used, 2 remaining" in out
    assert "moved 1, cancelled 0" in out
    assert " now offers 0 slots" in out
    assert "Demo finished" in out


def test_workshops_demo_books_a_party_an_artist_free_the_waitlist_a_series_and_reports_them() -> None:
    out = _demo("--workshops")
    assert "amount_received=20000 usd" in out  # 10 seats at the group rate: 400.00, its deposit
    assert "Cal.com attendees: Frida Kahlo, Diego Rivera, Tina Modotti" in out
    assert '"role": "resident_artist"' in out and '"total": 0' in out
    assert "seats left: 0" in out and "Lucie Rie is number 1 in line" in out
    assert '"amount_refunded": 4000' in out  # two seats of ten given back early: their share of the deposit
    assert "EMAIL to lucie@example.com: A place is free for you" in out
    assert "Lucie Rie's party of 2 is booked" in out
    assert "amount_received=15000 usd" in out  # the course of three, in full
    assert out.count("EMAIL to frida@example.com: Booked: Ceramics Workshop") == 4  # her party and three sessions
    assert "refunded 40.00" in out
    assert "Demo finished" in out


@pytest.fixture
def runner() -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "local", "serve", "--port", str(port), "--no-schedules"],
        cwd=ROOT,
        env=_clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    api = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.get(f"{api}/_local", timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.2)
    yield api
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=20)


def test_serve_answers_every_route_and_says_where_things_live(runner: str) -> None:
    info = requests.get(f"{runner}/_local", timeout=5).json()
    assert info["api"] == runner and info["stripe_api"].startswith("http://127.0.0.1:")
    assert info["cal_api"].startswith("http://127.0.0.1:") and info["stripe"] == "double"
    assert "POST /payments/create-intent" in info["routes"] and "POST /webhooks/cal" in info["routes"]
    assert requests.get(f"{runner}/services", timeout=10).status_code == 200
    bad = requests.post(f"{runner}/payments/create-intent", json={"service_id": "x"}, timeout=10)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error"


def test_serve_answers_cors_for_the_site_origin_only(runner: str) -> None:
    allowed = requests.options(
        f"{runner}/payments/create-intent",
        headers={"Origin": "http://localhost:8080", "Access-Control-Request-Method": "POST"},
        timeout=5,
    )
    assert allowed.status_code == 204 and allowed.headers["Access-Control-Allow-Origin"] == "http://localhost:8080"
    other = requests.get(f"{runner}/services", headers={"Origin": "https://evil.example"}, timeout=5)
    assert "Access-Control-Allow-Origin" not in other.headers


def test_clock_and_invoke_commands_reach_the_running_runner(runner: str) -> None:
    env = _clean_env()
    moved = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "local", "clock", "72h", "--api", runner],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert moved.returncode == 0 and "259200" in moved.stdout
    invoked = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "local", "invoke", "PayoutsCronFunction", "--api", runner],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert invoked.returncode == 0 and '"paid": 0' in invoked.stdout


def test_make_token_prints_a_dev_token_the_running_runner_accepts(runner: str) -> None:
    # Given the running runner (its dev key in .local/) and a token printed in another shell, as `make token`
    def token(*args: str) -> str:
        printed = subprocess.run(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "local.dev_auth", *args],
            cwd=ROOT,
            env=_clean_env(),
            capture_output=True,
            text=True,
            check=True,
        )
        return printed.stdout.strip()

    unknown = f"{runner}/admin/bookings/bk_000000000000000000000000"
    # When the owner and staff use theirs, and someone uses none
    owner = requests.get(unknown, headers={"Authorization": f"Bearer {token()}"}, timeout=10)
    staff = requests.get(unknown, headers={"Authorization": f"Bearer {token('--role', 'staff')}"}, timeout=10)
    nobody = requests.get(unknown, timeout=10)
    # Then the gateway lets the signed-in through to the function (which finds no such booking), not the others
    assert owner.status_code == 404 and staff.status_code == 404
    assert (nobody.status_code, nobody.json()) == (401, {"message": "Unauthorized"})


def _clock_offset(api: str) -> float:
    return float(requests.get(f"{api}/_local", timeout=5).json()["clock_offset_seconds"])


def test_jobs_demo_on_a_running_runner_puts_its_clock_back(runner: str) -> None:
    # Given a running runner whose clock a developer already moved an hour ahead
    requests.post(f"{runner}/_local/clock", json={"advance_seconds": 3600}, timeout=5).raise_for_status()

    # When the jobs demo, which moves the clock 3 days ahead, runs against it
    result = subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "local", "demo", "--jobs", "--api", runner],
        cwd=ROOT,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )

    # Then it finished and the clock is where the demo found it
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "clock put back" in result.stdout
    assert _clock_offset(runner) == 3600


@pytest.mark.parametrize("failure", [RuntimeError("lost the network"), None])
def test_a_demo_that_fails_after_moving_the_clock_still_puts_it_back(
    runner: str, monkeypatch: pytest.MonkeyPatch, failure: Exception | None
) -> None:
    from local import demo

    # Given a jobs demo that fails once it has moved the runner's clock 72 h (as DemoFailed, or any error)
    def walk_jobs(api: str) -> dict:
        demo._advance(requests.Session(), api, hours=72)
        raise failure or demo.DemoFailed("the cleanup job did not run")

    monkeypatch.setattr(demo, "walk_jobs", walk_jobs)

    # When it runs against the runner
    if failure is None:
        assert demo.run_demo(runner, jobs=True) == 1
    else:
        with pytest.raises(RuntimeError, match="lost the network"):
            demo.run_demo(runner, jobs=True)

    # Then the clock is back where it was
    assert _clock_offset(runner) == 0
