"""Cold start of every function in template.yaml: a fresh interpreter imports the handler and serves its first
event, as a new Lambda execution environment does, beside the floor `python -c "import boto3"` measured in the
same run. Also what each function ships: its CodeUri folder plus the layer.

    python -m bench.cold_start [--runs 5] [--only CreateIntentFunction ...] [--imports 8] [--no-sizes]

How close to Lambda it is:
- each run is a new `python` process; its working directory and first sys.path entry is the function's folder
  (Lambda's /var/task), then shared/ (the layer's /opt/python); the layer's packages are the project venv's;
- its environment is Lambda's: the template's Globals resolved with test-safe values (Stage bench, the moto
  table, secret and topic, the doubles' URLs) plus AWS_LAMBDA_FUNCTION_NAME, LAMBDA_TASK_ROOT and
  _X_AMZN_TRACE_ID, so Powertools' Tracer is enabled and patches libraries as in production (its segments go
  by UDP to the default X-Ray daemon address, where nothing listens);
- the provider keys come from Secrets Manager, as in production; DynamoDB, Secrets Manager and SNS are moto in
  server mode inside this process (AWS_ENDPOINT_URL), Stripe and Cal.com the doubles. Each first event is
  prepared so that it takes its route's real path to a success (create-token finds a payment to record,
  the Stripe webhook a payment to confirm in Cal.com, the Cal.com webhook a cancellation to refund, the
  payouts run one payout due: that child's clock is PAYOUT_HOLD_HOURS + 1 h ahead);
- bytecode, measured both ways: `sam build` ships no __pycache__ (it unpacks wheels and copies sources) and
  Lambda's /var/task and /opt are read-only, so without a compile step every cold start compiles every module
  it imports ("no pyc": bytecode for the standard library only, the runtime's own); "pyc" has bytecode for
  everything, what `make build` ships after its compileall step.

Times are medians over --runs rounds (each round: the floor, then every function, after one warm-up round). A
cold start runs from spawning the interpreter to the first event's answer, the floor from spawning it to the
end of `import boto3`; import and first event are also timed inside the child. Figures are this machine's,
not Lambda's: compare them with the floor and between runs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import marshal
import os
import platform
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from bench.world import CACHE, RESULTS, ROOT, World, local_world
from local.lambda_runtime import http_event, scheduler_event
from local.runner import (
    DOUBLE_CAL_KEY,
    DOUBLE_CAL_WEBHOOK_SECRET,
    DOUBLE_STRIPE_KEY,
    DOUBLE_STRIPE_WEBHOOK_SECRET,
)
from local.template import FunctionSpec, functions, load_template, resolve
from tests.support import ATTENDEE, stripe_event

REQUIREMENTS = ROOT / "shared" / "requirements.txt"
LAMBDA_PLATFORM = ("--platform", "manylinux2014_aarch64", "--python-version", "3.13", "--implementation", "cp")
# Lambda's X-Ray trace header for a sampled request: with it the Tracer records segments, as in production.
TRACE_HEADER = "Root=1-67a1b2c3-0123456789abcdef01234567;Parent=0123456789abcdef;Sampled=1"
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}
PYC, NO_PYC = "pyc", "no pyc"

# Runs in the fresh interpreter: import the handler, serve the event, write the timings. Only what Lambda's
# runtime has already loaded (json, os, sys, time, importlib) is imported before the clock starts.
# time.perf_counter() is the system-wide monotonic clock: the parent compares it with the moment it spawned
# the child, so a cold start ends with the answer, not with the interpreter's exit (~0.3 s of freeing memory
# here, which Lambda never waits for: it freezes the environment once the function has answered).
CHILD = """
import importlib, json, os, sys, time
module_name, attribute, event_file, result_file, timeout = sys.argv[1:]
started = time.perf_counter()
handler = getattr(importlib.import_module(module_name), attribute)
imported = time.perf_counter()


class Context:
    function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
    function_version = "$LATEST"
    memory_limit_in_mb = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + function_name
    aws_request_id = "00000000-0000-4000-8000-000000000000"
    log_group_name = "/aws/lambda/" + function_name
    log_stream_name = "bench"

    @staticmethod
    def get_remaining_time_in_millis():
        return max(int((started + float(timeout) - time.perf_counter()) * 1000), 0)


with open(event_file) as source:
    event = json.load(source)
answer = handler(event, Context())
served = time.perf_counter()
with open(result_file, "w") as out:
    json.dump({"import_s": imported - started, "first_event_s": served - imported, "answered_at": served,
               "answer": answer}, out, default=str)
"""
FLOOR = "import time; import boto3; print(time.perf_counter())"


# --- first events ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FirstEvent:
    event: dict[str, Any]
    extra_env: dict[str, str] = field(default_factory=dict)


def _api_event(world: World, method: str, path: str, body: Any, headers: dict[str, str] | None = None) -> dict:
    found = world.env.lam.route(method, path) if world.env.lam else None
    assert found is not None, f"no route for {method} {path}"
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return http_event(
        method, path, body=raw, headers={"content-type": "application/json", **(headers or {})}, route_key=found[1]
    )


def _fixture(spec: FunctionSpec, name: str) -> FirstEvent:
    return FirstEvent(json.loads((spec.code_uri / "events" / name).read_text(encoding="utf-8")))


def _create_intent(world: World, spec: FunctionSpec) -> FirstEvent:
    body = {"service_id": "signature-facial", "start": world.api.first_slot(), "attendee": ATTENDEE}
    return FirstEvent(
        _api_event(world, "POST", "/payments/create-intent", body, {"idempotency-key": str(uuid.uuid4())})
    )


def _create_token(world: World, spec: FunctionSpec) -> FirstEvent:
    intent = world.api.paid_booking()  # paid at Stripe, not yet recorded: create-token records it
    body = {"booking_id": intent["booking_id"], "payment_intent_id": intent["payment_intent_id"]}
    return FirstEvent(_api_event(world, "POST", "/bookings/create-token", body))


def _verify(world: World, spec: FunctionSpec) -> FirstEvent:
    token = world.api.create_token(world.api.paid_booking())
    assert token.status == 201, token.body
    return FirstEvent(_api_event(world, "POST", "/bookings/verify", {"token": token.body["token"]}))


def _stripe_webhook(world: World, spec: FunctionSpec) -> FirstEvent:
    intent = world.api.paid_booking()  # the close-tab case: the webhook records the payment and confirms
    event = stripe_event(world.stripe, "payment_intent.succeeded", intent["payment_intent_id"])
    raw = world.stripe.event_payload(event["id"])
    signature = world.stripe.signature_header(raw, DOUBLE_STRIPE_WEBHOOK_SECRET)
    return FirstEvent(_api_event(world, "POST", "/webhooks/stripe", raw, {"stripe-signature": signature}))


def _cal_webhook(world: World, spec: FunctionSpec) -> FirstEvent:
    uid = world.api.confirmed_booking()["cal_booking_uid"]
    world.cal.cancel_booking(uid, "cannot make it", by=ATTENDEE["email"])  # well ahead: a full refund is due
    raw, headers = world.cal.build_webhook("BOOKING_CANCELLED", uid, secret=DOUBLE_CAL_WEBHOOK_SECRET)
    return FirstEvent(_api_event(world, "POST", "/webhooks/cal", raw, headers))


def _scheduled(world: World, spec: FunctionSpec) -> FirstEvent:
    schedule = spec.schedules[0]
    return FirstEvent(scheduler_event(schedule.name, schedule.input))


def _payouts(world: World, spec: FunctionSpec) -> FirstEvent:
    world.api.confirmed_booking(service_id="brow-lamination")  # the service with a provider account
    hold_hours = int(_template_parameters()["PayoutHoldHours"])
    return FirstEvent(_scheduled(world, spec).event, {"LOCAL_CLOCK_OFFSET_SECONDS": str((hold_hours + 1) * 3600)})


def _notifications(world: World, spec: FunctionSpec) -> FirstEvent:
    """A deposit booking's PAID -> CONFIRMED stream record: the child plans, renders (Jinja2) and sends its
    confirmation through SES (moto; the runner verified the From address), our emails on."""
    from local.fixtures import confirmation_record

    world.env.streams.clear()  # the runner's own mapping would send the confirmation before the child could
    confirmed = world.api.confirmed_booking()
    record = confirmation_record(confirmed["booking_id"])
    on = {name: os.environ[name] for name in ("NOTIFY_FROM_EMAIL", "OWNER_EMAIL")}
    return FirstEvent({"Records": [record]}, on)


FIRST_EVENTS: dict[str, Callable[[World, FunctionSpec], FirstEvent]] = {
    "CatalogFunction": lambda world, spec: _fixture(spec, "availability.json"),
    "CreateIntentFunction": _create_intent,
    "CreateTokenFunction": _create_token,
    "VerifyBookingFunction": _verify,
    "StripeWebhookFunction": _stripe_webhook,
    "CalWebhookFunction": _cal_webhook,
    "AdminApiFunction": lambda world, spec: _fixture(spec, "list_flagged.json"),
    "OwnerActionsFunction": lambda world, spec: _fixture(spec, "refund.json"),
    "RebookFunction": lambda world, spec: _fixture(spec, "rebook.json"),
    "ManageBookingFunction": lambda world, spec: _fixture(spec, "manage.json"),  # an unknown link: 404, all imported
    "PackagesFunction": lambda world, spec: _fixture(spec, "purchase.json"),
    "PayBalanceFunction": lambda world, spec: _fixture(spec, "pay.json"),
    "ExpireHoldsFunction": _scheduled,
    "PayoutsCronFunction": _payouts,
    "NotificationsFunction": _notifications,
}


def describe(answer: Any) -> str:
    """What the first event answered, short: `201`, `200 confirmed ...`, `409 slot_taken`, `ok` (a job),
    `planned 2, sent 1` (a stream batch)."""
    if isinstance(answer, dict) and isinstance(answer.get("report"), dict):  # a stream batch: what it did
        done = {name: count for name, count in answer["report"].items() if count}
        failed = len(answer.get("batchItemFailures") or [])
        return ", ".join([f"{name} {count}" for name, count in done.items()] + [f"{failed} failed"] * bool(failed))
    if not isinstance(answer, dict) or "statusCode" not in answer:
        return "ok"
    try:
        body = json.loads(answer.get("body") or "null")
    except ValueError:
        body = None
    detail = ""
    if isinstance(body, dict):
        detail = str(body.get("outcome") or (body.get("error") or {}).get("code") or "")
    return f"{answer['statusCode']} {detail}".strip()


# --- the Lambda-like child -------------------------------------------------------------------------------


def _template_parameters() -> dict[str, str]:
    return {name: str(spec.get("Default", "")) for name, spec in load_template()["Parameters"].items()}


def lambda_environment(spec: FunctionSpec, secret_arns: dict[str, str]) -> dict[str, str]:
    """The function's environment in Lambda, with the template's references resolved to the local world."""
    refs = _template_parameters() | {
        "Stage": "bench",
        "BookingsTable": os.environ["TABLE_NAME"],
        **secret_arns,
        "OwnerAlertsTopic": os.environ["OWNER_ALERTS_TOPIC_ARN"],
        "StripeApiBase": os.environ["STRIPE_API_BASE"],
        "CalApiBase": os.environ["CAL_API_BASE"],
        "OwnerDashboardClient": "bench-dashboard-client",
        "StripePublishableKey": "pk_test_local_double",  # a required parameter: no default in the template
        "AWS::Region": FAKE_AWS.get("AWS_REGION", "us-east-1"),
    }
    env: dict[str, str] = {}
    for name, value in spec.environment.items():
        if isinstance(value, dict) and set(value) == {"Fn::If"}:
            # The template's conditions test optional parameters (a sign-in domain) left empty by default: false
            value = value["Fn::If"][2]
        if isinstance(value, dict):
            if not set(value) <= {"Ref", "Fn::Sub"}:
                raise SystemExit(f"{spec.logical_id}: cannot resolve {name}={value} (Ref, Sub and If only)")
            value = resolve(value, refs)
        env[name] = str(value)
    return (
        env
        | FAKE_AWS
        | {
            "PATH": os.environ.get("PATH", ""),
            "LANG": "C.UTF-8",
            "PYTHONPATH": str(ROOT / "shared"),
            "AWS_ENDPOINT_URL": os.environ["AWS_ENDPOINT_URL"],
            # Nothing of this machine's AWS configuration may leak in.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_LAMBDA_FUNCTION_NAME": spec.logical_id,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            "LAMBDA_TASK_ROOT": str(spec.code_uri),
            "_X_AMZN_TRACE_ID": TRACE_HEADER,
            "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        }
    )


def create_provider_secrets() -> dict[str, str]:
    """The provider keys in Secrets Manager (moto), one secret per key as the stack holds them in AWS:
    logical id of each secret -> its ARN."""
    keys = {
        "StripeSecretKeySecret": ("stripe_secret_key", DOUBLE_STRIPE_KEY),
        "StripeWebhookSecret": ("stripe_webhook_secret", DOUBLE_STRIPE_WEBHOOK_SECRET),
        "CalApiKeySecret": ("cal_api_key", DOUBLE_CAL_KEY),
        "CalWebhookSecret": ("cal_webhook_secret", DOUBLE_CAL_WEBHOOK_SECRET),
        "LinkSigningKeySecret": ("link_signing_key", os.environ["LINK_SIGNING_KEY"]),  # the runner's, per run
    }
    client = boto3.client("secretsmanager", region_name=FAKE_AWS["AWS_REGION"])
    return {
        logical_id: str(
            client.create_secret(Name=f"booking-deposits/bench/{name}", SecretString=json.dumps({name: value}))["ARN"]
        )
        for logical_id, (name, value) in keys.items()
    }


@dataclass(frozen=True)
class Bytecode:
    """Where the child finds bytecode (PYTHONPYCACHEPREFIX) and whether it may write more."""

    prefix: Path
    write: bool = False

    def env(self) -> dict[str, str]:
        return {"PYTHONPYCACHEPREFIX": str(self.prefix)} | ({} if self.write else {"PYTHONDONTWRITEBYTECODE": "1"})


def stdlib_only(prefix: Path, target: Path) -> None:
    """Copy the standard library's bytecode from `prefix` to `target`, nothing else."""
    shutil.rmtree(target, ignore_errors=True)
    # Not "platstdlib": in a venv that is the venv's own lib/ folder, site-packages included.
    stdlib = Path(sysconfig.get_path("stdlib")).relative_to("/")
    shutil.copytree(prefix / stdlib, target / stdlib)


@dataclass
class Run:
    cold_start_s: float  # from spawning the interpreter to the first event's answer
    import_s: float
    first_event_s: float
    answer: str


def run_child(
    spec: FunctionSpec, first: FirstEvent, env: dict[str, str], *, flags: tuple[str, ...] = ()
) -> tuple[Run, str]:
    """One cold start: (timings, the child's stderr)."""
    module, attribute = spec.handler.rsplit(".", 1)
    with tempfile.TemporaryDirectory(prefix="coldstart-") as scratch:
        event_file, result_file = Path(scratch) / "event.json", Path(scratch) / "result.json"
        event_file.write_text(json.dumps(first.event), encoding="utf-8")
        command = [sys.executable, *flags, "-c", CHILD, module, attribute, str(event_file), str(result_file)]
        spawned = time.perf_counter()
        done = subprocess.run(
            [*command, str(spec.timeout)],
            cwd=spec.code_uri,
            env=env | first.extra_env,
            stdout=subprocess.DEVNULL,  # the function's logs and metrics (EMF), as Lambda sends them to CloudWatch
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"{spec.logical_id}: the cold start failed (exit {done.returncode}):\n{done.stderr}")
        result = json.loads(result_file.read_text(encoding="utf-8"))
    cold_start = result["answered_at"] - spawned
    return Run(cold_start, result["import_s"], result["first_event_s"], describe(result["answer"])), done.stderr


def run_floor(env: dict[str, str]) -> float:
    """`python -c "import boto3"`, timed like a cold start: from the spawn to the end of the import."""
    spawned = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", FLOOR], env=env, capture_output=True, text=True, check=True)
    return float(done.stdout) - spawned


def top_imports(importtime: str, count: int) -> list[tuple[str, float]]:
    """The slowest modules of an `-X importtime` report (cumulative ms), among the first two levels."""
    found: list[tuple[str, float]] = []
    for line in importtime.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|")
        depth = (len(name) - len(name.lstrip())) // 2
        if cumulative.strip().isdigit() and 1 <= depth <= 2:
            found.append((name.strip(), int(cumulative) / 1000))
    return sorted(found, key=lambda item: -item[1])[:count]


# --- deployment size -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerSize:
    without_pyc: int
    with_pyc: int
    source: str  # how it was measured


def _tree_size(root: Path, *, with_pyc: bool) -> int:
    return sum(
        path.stat().st_size
        for path in root.rglob("*")
        if path.is_file() and (with_pyc or "__pycache__" not in path.parts)
    )


def _lambda_python() -> tuple[str, str]:
    """Lambda's Python to compile the layer with, as `make build` does (LAMBDA_PYTHON), else this one (then said)."""
    candidate = os.environ.get("LAMBDA_PYTHON") or "python3.13"
    found = shutil.which(candidate)
    if found and subprocess.run([found, "-c", ""], capture_output=True, check=False).returncode == 0:
        return found, candidate
    return sys.executable, f"python{sys.version_info.major}.{sys.version_info.minor} ({candidate} not found)"


def layer_size() -> LayerSize:
    """The layer as `sam build` makes it (shared/ + its requirements for arm64 / cp313), with and without the
    bytecode a compileall step adds. Installed once per requirements file under bench/.cache/."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:12]
    packages = CACHE / f"layer-{digest}" / "python"
    if not (packages.parent / "complete").exists():
        shutil.rmtree(packages.parent, ignore_errors=True)
        install = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        command = [*install, "-r", str(REQUIREMENTS), "--target", str(packages), *LAMBDA_PLATFORM]
        command += ["--only-binary=:all:", "--no-compile"]  # no bytecode: what `sam build` ships
        if subprocess.run(command, capture_output=True, check=False).returncode != 0:
            return venv_layer_size()
        (packages.parent / "complete").touch()
    shared = packages.parent / "shared"
    shutil.rmtree(shared, ignore_errors=True)
    shutil.copytree(ROOT / "shared", shared, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for stale in list(packages.rglob("__pycache__")):  # another interpreter's bytecode from an earlier run
        shutil.rmtree(stale)
    python, label = _lambda_python()
    compile_all = [python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash"]
    subprocess.run([*compile_all, str(packages), str(shared)], capture_output=True, check=False)
    without = _tree_size(packages, with_pyc=False) + _tree_size(shared, with_pyc=False)
    with_pyc = _tree_size(packages, with_pyc=True) + _tree_size(shared, with_pyc=True)
    return LayerSize(without, with_pyc, f"pip --platform manylinux2014_aarch64 cp313; bytecode by {label}")


def venv_layer_size() -> LayerSize:
    """Offline fallback: the installed size of the requirements (and their dependencies) in this venv."""
    from importlib.metadata import PackageNotFoundError, distribution

    from packaging.requirements import Requirement

    seen: set[str] = set()
    pending = [Requirement(line) for line in REQUIREMENTS.read_text().splitlines() if line and line[0].isalnum()]
    without = with_pyc = 0
    while pending:
        requirement = pending.pop()
        if requirement.name.lower() in seen:
            continue
        seen.add(requirement.name.lower())
        try:
            dist = distribution(requirement.name)
        except PackageNotFoundError:
            continue
        for file in dist.files or []:
            size = file.size or 0
            with_pyc += size
            without += 0 if "__pycache__" in file.parts else size
        for dependency in dist.requires or []:
            needed = Requirement(dependency)
            extras = requirement.extras or {""}
            if needed.marker is None or any(needed.marker.evaluate({"extra": extra}) for extra in extras):
                pending.append(needed)
    shared_without = _tree_size(ROOT / "shared", with_pyc=False)
    return LayerSize(
        without + shared_without,
        with_pyc + shared_without,
        f"offline: this venv's installed packages (python{sys.version_info.major}.{sys.version_info.minor})",
    )


def code_size(spec: FunctionSpec) -> tuple[int, int]:
    """The function's CodeUri folder as shipped: (without bytecode, with the bytecode of its modules)."""
    files = [path for path in spec.code_uri.rglob("*") if path.is_file() and "__pycache__" not in path.parts]
    sources = sum(path.stat().st_size for path in files)
    # A .pyc is a 16-byte header and the marshalled code object.
    compiled = sum(
        16 + len(marshal.dumps(compile(path.read_bytes(), str(path), "exec"))) for path in files if path.suffix == ".py"
    )
    return sources, sources + compiled


# --- the benchmark ---------------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = platform.processor() or "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "date": datetime.now(UTC).date().isoformat(),
        "arch": platform.machine(),
        "cpu": f"{cpu} ({os.cpu_count()} CPUs)",
        "python": platform.python_version(),
    }


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cold_start", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="measured rounds (after one warm-up round)")
    parser.add_argument("--only", nargs="*", help="logical ids of the functions to measure (default: all)")
    parser.add_argument("--imports", type=int, default=0, metavar="N", help="also list each one's N slowest imports")
    parser.add_argument("--no-sizes", action="store_true", help="skip the deployment sizes")
    args = parser.parse_args(argv)

    specs = {name: spec for name, spec in functions().items() if not args.only or name in args.only}
    missing = sorted(set(specs) - set(FIRST_EVENTS))
    if missing:
        raise SystemExit(f"no first event defined for {missing}: add one to FIRST_EVENTS")
    prefix = CACHE / "pycache"
    modes = {PYC: Bytecode(prefix / "all"), NO_PYC: Bytecode(prefix / "stdlib-only")}
    runs: dict[str, dict[str, list[Run]]] = {mode: {name: [] for name in specs} for mode in modes}
    floor: list[float] = []
    imports: dict[str, list[tuple[str, float]]] = {}
    info = machine()
    print(f"Cold start, {info['date']}, {info['arch']}, {info['cpu']}, Python {info['python']}; ", end="")
    print(f"{args.runs} runs after a warm-up, tracing enabled", flush=True)

    with local_world() as world:
        secret_arns = create_provider_secrets()
        environments = {name: lambda_environment(spec, secret_arns) for name, spec in specs.items()}
        floor_env = next(iter(environments.values()))
        for round_number in range(args.runs + 1):
            warm_up = round_number == 0
            for mode, bytecode in modes.items():
                # The warm-up round of "pyc" writes the bytecode of everything the functions import.
                current = Bytecode(bytecode.prefix, write=True) if warm_up and mode == PYC else bytecode
                if mode == PYC:
                    elapsed = run_floor(floor_env | current.env())
                    if not warm_up:
                        floor.append(elapsed)
                for name, spec in specs.items():
                    run, _ = run_child(spec, FIRST_EVENTS[name](world, spec), environments[name] | current.env())
                    if not warm_up:
                        runs[mode][name].append(run)
                if warm_up and mode == PYC:
                    stdlib_only(modes[PYC].prefix, modes[NO_PYC].prefix)
            print("." if not warm_up else "warm ", end="", flush=True)
        if args.imports:
            for name, spec in specs.items():
                env = environments[name] | modes[PYC].env()
                _, stderr = run_child(spec, FIRST_EVENTS[name](world, spec), env, flags=("-X", "importtime"))
                imports[name] = top_imports(stderr, args.imports)
    print()

    floor_ms = median_ms(floor)
    report: dict[str, Any] = {"machine": info, "runs": args.runs, "floor_ms": floor_ms, "functions": {}}
    print(f'\nfloor: python -c "import boto3" with bytecode  {floor_ms:.0f} ms (median of {len(floor)}); both')
    print("x floor columns divide by it\n")
    header = f"{'function':<22} {'first event answer':<34} {'import':>7} {'event':>7} {'cold start':>10} {'x floor':>7}"
    print(f"{header} {'no pyc':>8} {'x floor':>7}")
    print(f"{'':<22} {'':<34} {'ms':>7} {'ms':>7} {'ms (pyc)':>10} {'':>7} {'ms':>8} {'':>7}")
    for name in specs:
        with_pyc, without = runs[PYC][name], runs[NO_PYC][name]
        row = {
            "answer": with_pyc[0].answer,
            "import_ms": median_ms([run.import_s for run in with_pyc]),
            "first_event_ms": median_ms([run.first_event_s for run in with_pyc]),
            "cold_start_ms": median_ms([run.cold_start_s for run in with_pyc]),
            "no_pyc_import_ms": median_ms([run.import_s for run in without]),
            "no_pyc_first_event_ms": median_ms([run.first_event_s for run in without]),
            "no_pyc_cold_start_ms": median_ms([run.cold_start_s for run in without]),
        }
        report["functions"][name] = row
        print(
            f"{name:<22} {row['answer'][:34]:<34} {row['import_ms']:>7.0f} {row['first_event_ms']:>7.0f} "
            f"{row['cold_start_ms']:>10.0f} {row['cold_start_ms'] / floor_ms:>7.1f} "
            f"{row['no_pyc_cold_start_ms']:>8.0f} {row['no_pyc_cold_start_ms'] / floor_ms:>7.1f}"
        )
    for name, slowest in imports.items():
        print(f"\n{name}: slowest imports (cumulative ms, pyc)")
        for module, ms in slowest:
            print(f"  {ms:>7.1f}  {module}")

    if not args.no_sizes:
        layer = layer_size()
        report["layer"] = {"without_pyc": layer.without_pyc, "with_pyc": layer.with_pyc, "source": layer.source}
        mb = 1024 * 1024
        print(f"\nDeployment size (installed, unzipped): layer = shared/ + requirements ({layer.source})")
        print(f"{'function':<22} {'code KB':>8} {'total MB':>9} {'with pyc MB':>12}")
        for name, spec in specs.items():
            code, code_pyc = code_size(spec)
            report["functions"][name] |= {"code_bytes": code, "total_bytes": code + layer.without_pyc}
            print(
                f"{name:<22} {code / 1024:>8.1f} {(code + layer.without_pyc) / mb:>9.1f} "
                f"{(code_pyc + layer.with_pyc) / mb:>12.1f}"
            )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "cold_start.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"\nwritten to {(RESULTS / 'cold_start.json').relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
