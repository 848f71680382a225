"""Cold start of every function in template.yaml, as `make build` ships it, before and after in the same run:
a fresh Python 3.13 interpreter imports the handler and serves its first event, as a new Lambda execution
environment does, beside the floor `python3.13 -c "import boto3"` measured in the same run.

    python -m bench.cold_start [--runs 5] [--only CreateIntentFunction ...] [--before REF | --no-before]
                               [--provider-latency-ms N] [--imports [--import-runs 7]] [--no-sizes]

What each run is, and how close to Lambda:
- the interpreter is Lambda's: Python 3.13 (LAMBDA_PYTHON, default python3.13; nothing else is accepted);
- the bytecode is what `make build` ships: the function's folder (Lambda's /var/task), shared/ and the layer's
  requirements (/opt/python) are laid out under bench/.cache/coldstart/ and compiled by that interpreter with
  `compileall --invalidation-mode unchecked-hash`; the child writes no bytecode (Lambda's file system is
  read-only). The requirements are installed for Python 3.13 on this machine's platform (pip --target, cached
  per requirements file): the same versions as the arm64 layer, the native wheels this CPU can run;
- every connection is TLS, as in AWS: moto (DynamoDB, Secrets Manager, SNS, SES), the Stripe double and the
  Cal.com double are reached through HTTPS proxies on loopback whose certificate is signed by a local CA made
  at bench time (bench/.cache/tls). The child trusts it the way production trusts the public CAs: the layer's
  own CA bundles (certifi's, which requests and botocore load; stripe's `ca_bundle_path`) are those bundles
  plus the local CA, so loading a bundle per new connection costs what it costs in Lambda;
- `--provider-latency-ms N`: the Stripe and Cal.com proxies wait N ms before passing each request on;
- its environment is Lambda's: the template's Globals resolved (Stage bench, the moto table, secrets and topic,
  the doubles' URLs) plus AWS_LAMBDA_FUNCTION_NAME, LAMBDA_TASK_ROOT and _X_AMZN_TRACE_ID, so Powertools' Tracer
  is enabled (its segments go by UDP to the default X-Ray daemon address, where nothing listens); the provider
  keys come from Secrets Manager;
- each first event takes its route's real path to a success (create-token finds a payment to record, the
  Stripe webhook a payment to confirm in Cal.com, the Cal.com webhook a cancellation to refund, the payouts run
  one payout due). The state it needs is made by the same tree's code: each tree (before, after) has its own
  local world (moto, doubles, its handlers in process) in a subprocess of its own, since the data model
  changes between them. A row whose first event cannot be prepared or fails is measured import-only and says so.

Before and after are interleaved: each round measures the floor, then every function in both trees, in
alternating order, so both columns see the same machine state. Times are medians over --runs rounds after
one warm-up round. A cold start runs from spawning the interpreter to the first event's answer (its exit is
left out: Lambda freezes the environment once the function has answered), import and first event are also
timed inside the child. Figures are this machine's, not Lambda's: read the ratios to the floor.

`--imports`: marginal import costs, each measured in its own fresh process on top of the unavoidable set
(botocore's session and client modules, pydantic with one model built, requests: what every function needs to
reach DynamoDB, validate a body and call a provider), median of --import-runs processes, in CPU time of the process
(time.process_time: imports are CPU-bound once the files are cached, and CPU time moves less than wall time with
the machine's load; it still grows with it, so compare the columns of one run). Unlike the cumulative
figures of `-X importtime`, a dependency shared by two candidates is not counted twice against the base.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import marshal
import os
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / ".cache"
LAYOUT = CACHE / "coldstart"
TLS_DIR = CACHE / "tls"
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
COLD_START_TARGET, IMPORT_TARGET = 2.0, 1.5  # x the floor (issue 15)

# Runs in the fresh interpreter: import the handler, serve the event ("-": import only), write the timings.
# Only what Lambda's runtime has already loaded (json, os, sys, time, importlib) is imported before the clock
# starts. time.perf_counter() is the system-wide monotonic clock: the parent compares it with the moment it
# spawned the child, so a cold start ends with the answer, not with the interpreter's exit (~0.3 s of freeing
# memory here, which Lambda never waits for: it freezes the environment once the function has answered).
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


answer = None
if event_file != "-":
    with open(event_file) as source:
        event = json.load(source)
    answer = handler(event, Context())
served = time.perf_counter()
with open(result_file, "w") as out:
    json.dump({"import_s": imported - started, "first_event_s": served - imported, "answered_at": served,
               "cpu_s": time.process_time(), "answer": answer}, out, default=str)
"""
FLOOR = "import time; import boto3; print(time.perf_counter())"


# --- Lambda's interpreter, requirements and bytecode -------------------------------------------------------


def lambda_python(wanted: str | None = None) -> Path:
    """The Python 3.13 interpreter's own executable (not a pyenv shim, whose shell start would be timed)."""
    candidates = [wanted or os.environ.get("LAMBDA_PYTHON") or "python3.13"]
    candidates += sorted(str(path) for path in Path.home().glob(".pyenv/versions/3.13*/bin/python3.13"))
    probe = "import sys; print(sys.executable); print('%d.%d' % sys.version_info[:2])"
    for candidate in candidates:
        found = shutil.which(candidate)
        if not found:
            continue
        done = subprocess.run([found, "-c", probe], capture_output=True, text=True, check=False)
        lines = done.stdout.split()
        if done.returncode == 0 and len(lines) == 2 and lines[1] == "3.13":
            return Path(lines[0])
    raise SystemExit(
        "Python 3.13 (Lambda's runtime) is needed: set LAMBDA_PYTHON, or e.g. PYENV_VERSION=3.11.7:3.13.0 "
        "(the figures of another version would not be the bytecode `make build` ships)"
    )


def compile_tree(python: Path, *paths: Path) -> None:
    """What `make build` runs on .aws-sam/build."""
    command = [str(python), "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash"]
    subprocess.run([*command, *map(str, paths)], check=True, stdout=subprocess.DEVNULL)


def layer_requirements(python: Path, requirements: Path) -> Path:
    """The layer's requirements for `python`, installed once per requirements file and compiled like the build."""
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:12]
    packages = CACHE / f"deps-py313-{digest}" / "python"
    if not (packages.parent / "complete").exists():
        shutil.rmtree(packages.parent, ignore_errors=True)
        install = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile"]
        done = subprocess.run(
            [*install, "-r", str(requirements), "--target", str(packages)], capture_output=True, text=True
        )
        if done.returncode != 0:
            raise SystemExit(f"pip could not install {requirements} for {python}:\n{done.stderr}")
        compile_tree(python, packages)
        (packages.parent / "complete").touch()
    return packages


# The bundles the layer's clients load: certifi's (requests, and botocore when certifi is installed), botocore's
# own (its fallback) and the one stripe passes to its HTTP client (stripe.ca_bundle_path).
CA_BUNDLES = ("certifi/cacert.pem", "botocore/cacert.pem", "stripe/data/ca-certificates.crt")


def trust_local_ca(packages: Path, ca_pem: bytes) -> None:
    """Each CA bundle of the layer becomes its original content plus the local CA (the original kept beside it)."""
    for relative in CA_BUNDLES:
        bundle = packages / relative
        if not bundle.exists():
            continue
        original = bundle.with_name(bundle.name + ".orig")
        if not original.exists():
            shutil.copyfile(bundle, original)
        bundle.write_bytes(original.read_bytes().rstrip(b"\n") + b"\n" + ca_pem)


@dataclass(frozen=True)
class Tree:
    """One side of the comparison laid out as Lambda sees it: shared/ (with the requirements: /opt/python) and
    each function's folder (/var/task), all compiled."""

    label: str
    root: Path  # the checkout the code comes from
    layout: Path
    packages: Path

    @property
    def shared(self) -> Path:
        return self.layout / "shared"

    def function_dir(self, code_uri: str) -> Path:
        return self.layout / "functions" / Path(code_uri).name


def lay_out(label: str, root: Path, code_uris: list[str], python: Path) -> Tree:
    layout = LAYOUT / label
    shutil.rmtree(layout, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(root / "shared", layout / "shared", ignore=ignore)
    for code_uri in code_uris:
        shutil.copytree(root / code_uri, layout / "functions" / Path(code_uri).name, ignore=ignore)
    compile_tree(python, layout)
    packages = layer_requirements(python, root / "shared" / "requirements.txt")
    return Tree(label, root, layout, packages)


# --- TLS on loopback ---------------------------------------------------------------------------------------


def make_certificates() -> tuple[Path, Path, Path]:
    """A local CA and a server certificate it signs for 127.0.0.1 and localhost: (ca.pem, cert.pem, key.pem)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    TLS_DIR.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("booking-deposits bench CA"))
        .issuer_name(name("booking-deposits bench CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = TLS_DIR / "ca.pem", TLS_DIR / "cert.pem", TLS_DIR / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection", "upgrade"}


class TlsProxy:
    """HTTPS on loopback in front of a plain HTTP server, keeping connections alive as AWS, Stripe and Cal.com
    do (moto's and the doubles' servers speak HTTP/1.0 and close each connection: behind them as they are, every
    request would open a new TLS connection and load a CA bundle, which production does not). With a latency,
    each request waits that long before it is passed on (a provider's answer time)."""

    def __init__(self, backend: str, context: ssl.SSLContext, latency_s: float = 0.0) -> None:
        parts = urlsplit(backend)
        self.backend = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.context, self.latency_s = context, latency_s
        self.listener = socket.create_server(("127.0.0.1", 0))
        port = self.listener.getsockname()[1]
        self.url = urlunsplit(("https", f"127.0.0.1:{port}", parts.path, "", ""))
        threading.Thread(target=self._accept, daemon=True, name=f"tls-{port}").start()

    def _accept(self) -> None:
        while True:
            connection, _ = self.listener.accept()
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        try:
            with self.context.wrap_socket(connection, server_side=True) as secure:
                reader, writer = secure.makefile("rb"), secure.makefile("wb")
                while self._exchange(reader, writer):
                    pass
        except (OSError, ssl.SSLError, ValueError):
            connection.close()

    def _exchange(self, reader: Any, writer: Any) -> bool:
        """One request and its answer; False once the client is done with the connection."""
        import http.client

        request_line = reader.readline(65537)
        if not request_line.strip():
            return False
        method, target, _ = request_line.decode("latin-1").split(" ", 2)
        headers: list[tuple[str, str]] = []
        while (line := reader.readline(65537)) not in (b"\r\n", b"\n", b""):
            name, value = line.decode("latin-1").split(":", 1)
            headers.append((name.strip(), value.strip()))
        fields = {name.lower(): value for name, value in headers}
        if "chunked" in fields.get("transfer-encoding", "").lower():
            body = b""
            while (size := int(reader.readline().split(b";")[0], 16)) > 0:
                body += reader.read(size)
                reader.readline()
            reader.readline()
        else:
            body = reader.read(int(fields.get("content-length", "0")))
        if self.latency_s:
            time.sleep(self.latency_s)
        upstream = http.client.HTTPConnection(*self.backend, timeout=120)
        try:
            upstream.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                if name.lower() not in _HOP_BY_HOP:
                    upstream.putheader(name, value)
            upstream.putheader("Content-Length", str(len(body)))
            upstream.endheaders(body)
            answer = upstream.getresponse()
            content = answer.read()
            out = [f"HTTP/1.1 {answer.status} {answer.reason}\r\n"]
            out += [f"{name}: {value}\r\n" for name, value in answer.getheaders() if name.lower() not in _HOP_BY_HOP]
            out.append(f"Content-Length: {len(content)}\r\n\r\n")
        finally:
            upstream.close()
        writer.write("".join(out).encode("latin-1") + (b"" if method == "HEAD" else content))
        writer.flush()
        return fields.get("connection", "").lower() != "close"


# --- the world a tree's first events need (runs in a subprocess, with that tree's code) ----------------------


@dataclass(frozen=True)
class FirstEvent:
    event: dict[str, Any]
    extra_env: dict[str, str] = field(default_factory=dict)


def _world_server(tree_root: Path, latency_ms: float, out: TextIO) -> None:
    """Serve `prepare` requests (JSON lines on stdin) with the tree at `tree_root` (first on sys.path)."""
    import boto3

    from local.lambda_runtime import http_event, scheduler_event
    from local.runner import (
        DOUBLE_CAL_KEY,
        DOUBLE_CAL_WEBHOOK_SECRET,
        DOUBLE_STRIPE_KEY,
        DOUBLE_STRIPE_WEBHOOK_SECRET,
        LocalEnvironment,
    )
    from local.template import FunctionSpec, functions, load_template, resolve
    from tests.support import ATTENDEE, ApiClient, stripe_event

    for name in ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "CAL_API_KEY", "CAL_WEBHOOK_SECRET"):
        os.environ.pop(name, None)
    for name in ("STRIPE_API_BASE", "CAL_API_BASE", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)
    os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
    env = LocalEnvironment("127.0.0.1", 0).start()
    for endpoint in env.stripe_double.webhook_endpoints:
        env.stripe_double.remove_webhook_endpoint(endpoint.id)
    env.cal_double.remove_webhook_subscribers()
    env.cal_double.rate_limit_per_minute = sys.maxsize  # its throttle would be what gets measured
    env.streams.clear()  # the notifier's thread would act on the bookings the first events need
    assert env.lam is not None
    api = ApiClient(env.lam)

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(TLS_DIR / "cert.pem", TLS_DIR / "key.pem")
    secure = {
        "AWS_ENDPOINT_URL": TlsProxy(os.environ["AWS_ENDPOINT_URL"], context).url,
        "STRIPE_API_BASE": TlsProxy(os.environ["STRIPE_API_BASE"], context, latency_ms / 1000).url,
        "CAL_API_BASE": TlsProxy(os.environ["CAL_API_BASE"], context, latency_ms / 1000).url,
    }

    secrets_client = boto3.client("secretsmanager", region_name=FAKE_AWS["AWS_REGION"])
    keys = {
        "StripeSecretKeySecret": ("stripe_secret_key", DOUBLE_STRIPE_KEY),
        "StripeWebhookSecret": ("stripe_webhook_secret", DOUBLE_STRIPE_WEBHOOK_SECRET),
        "CalApiKeySecret": ("cal_api_key", DOUBLE_CAL_KEY),
        "CalWebhookSecret": ("cal_webhook_secret", DOUBLE_CAL_WEBHOOK_SECRET),
        "LinkSigningKeySecret": ("link_signing_key", os.environ["LINK_SIGNING_KEY"]),
    }
    secret_arns = {
        logical_id: str(
            secrets_client.create_secret(Name=f"booking-deposits/bench/{name}", SecretString=json.dumps({name: value}))[
                "ARN"
            ]
        )
        for logical_id, (name, value) in keys.items()
    }
    parameters = {name: str(spec.get("Default", "")) for name, spec in load_template()["Parameters"].items()}

    def lambda_environment(spec: FunctionSpec) -> dict[str, str]:
        refs = parameters | {
            "Stage": "bench",
            "BookingsTable": os.environ["TABLE_NAME"],
            **secret_arns,
            "OwnerAlertsTopic": os.environ["OWNER_ALERTS_TOPIC_ARN"],
            "StripeApiBase": secure["STRIPE_API_BASE"],
            "CalApiBase": secure["CAL_API_BASE"],
            "OwnerDashboardClient": "bench-dashboard-client",
            "StripePublishableKey": "pk_test_local_double",  # a required parameter: no default in the template
            "AWS::Region": FAKE_AWS["AWS_REGION"],
        }
        found: dict[str, str] = {}
        for name, value in spec.environment.items():
            if isinstance(value, dict) and set(value) == {"Fn::If"}:
                value = value["Fn::If"][2]  # the conditions test optional parameters, empty by default: false
            if isinstance(value, dict):
                value = resolve(value, refs)
            found[name] = str(value)
        return found | {"AWS_ENDPOINT_URL": secure["AWS_ENDPOINT_URL"]}

    def api_event(method: str, path: str, body: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
        route = env.lam.route(method, path) if env.lam else None
        assert route is not None, f"no route for {method} {path}"
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return http_event(
            method, path, body=raw, headers={"content-type": "application/json", **(headers or {})}, route_key=route[1]
        )

    def fixture(spec: FunctionSpec, name: str) -> FirstEvent:
        return FirstEvent(json.loads((spec.code_uri / "events" / name).read_text(encoding="utf-8")))

    def create_intent(spec: FunctionSpec) -> FirstEvent:
        body = {"service_id": "signature-facial", "start": api.first_slot(), "attendee": ATTENDEE}
        return FirstEvent(api_event("POST", "/payments/create-intent", body, {"idempotency-key": str(uuid.uuid4())}))

    def create_token(spec: FunctionSpec) -> FirstEvent:
        intent = api.paid_booking()  # paid at Stripe, not yet recorded: create-token records it
        body = {"booking_id": intent["booking_id"], "payment_intent_id": intent["payment_intent_id"]}
        return FirstEvent(api_event("POST", "/bookings/create-token", body))

    def verify(spec: FunctionSpec) -> FirstEvent:
        token = api.create_token(api.paid_booking())
        assert token.status == 201, token.body
        return FirstEvent(api_event("POST", "/bookings/verify", {"token": token.body["token"]}))

    def stripe_webhook(spec: FunctionSpec) -> FirstEvent:
        intent = api.paid_booking()  # the close-tab case: the webhook records the payment and confirms
        event = stripe_event(env.stripe_double, "payment_intent.succeeded", intent["payment_intent_id"])
        raw = env.stripe_double.event_payload(event["id"])
        signature = env.stripe_double.signature_header(raw, DOUBLE_STRIPE_WEBHOOK_SECRET)
        return FirstEvent(api_event("POST", "/webhooks/stripe", raw, {"stripe-signature": signature}))

    def cal_webhook(spec: FunctionSpec) -> FirstEvent:
        uid = api.confirmed_booking()["cal_booking_uid"]
        env.cal_double.cancel_booking(uid, "cannot make it", by=ATTENDEE["email"])  # well ahead: a full refund
        raw, headers = env.cal_double.build_webhook("BOOKING_CANCELLED", uid, secret=DOUBLE_CAL_WEBHOOK_SECRET)
        return FirstEvent(api_event("POST", "/webhooks/cal", raw, headers))

    def scheduled(spec: FunctionSpec) -> FirstEvent:
        schedule = spec.schedules[0]
        return FirstEvent(scheduler_event(schedule.name, schedule.input))

    def payouts(spec: FunctionSpec) -> FirstEvent:
        api.confirmed_booking(service_id="brow-lamination")  # the service with a provider account
        hold_hours = int(parameters["PayoutHoldHours"])
        return FirstEvent(scheduled(spec).event, {"LOCAL_CLOCK_OFFSET_SECONDS": str((hold_hours + 1) * 3600)})

    def stream_record(spec: FunctionSpec) -> FirstEvent:
        """A deposit booking's PAID -> CONFIRMED stream record: the notifier renders (Jinja2) and sends its
        confirmation through SES, our emails on; the table-changes reader updates the report aggregates."""
        from local.fixtures import confirmation_record

        confirmed = api.confirmed_booking()
        on = {name: os.environ[name] for name in ("NOTIFY_FROM_EMAIL", "OWNER_EMAIL") if name in os.environ}
        return FirstEvent({"Records": [confirmation_record(confirmed["booking_id"])]}, on)

    def leave_waitlist(spec: FunctionSpec) -> FirstEvent:  # an unknown entry: 404, everything imported, one read
        return FirstEvent(
            api_event("DELETE", "/waitlist/wl_0123456789abcdef01234567", b"", {"x-waitlist-secret": "s" * 32})
        )

    first_events: dict[str, Callable[[FunctionSpec], FirstEvent]] = {
        "CatalogFunction": lambda spec: fixture(spec, "availability.json"),
        "CreateIntentFunction": create_intent,
        "CreateTokenFunction": create_token,
        "VerifyBookingFunction": verify,
        "StripeWebhookFunction": stripe_webhook,
        "CalWebhookFunction": cal_webhook,
        "AdminApiFunction": lambda spec: fixture(spec, "list_flagged.json"),
        "OwnerActionsFunction": lambda spec: fixture(spec, "refund.json"),
        "RebookFunction": lambda spec: fixture(spec, "rebook.json"),
        "ManageBookingFunction": lambda spec: fixture(spec, "manage.json"),  # an unknown link: 404
        "PackagesFunction": lambda spec: fixture(spec, "purchase.json"),
        "PayBalanceFunction": lambda spec: fixture(spec, "pay.json"),
        "WaitlistFunction": leave_waitlist,
        "ExpireHoldsFunction": scheduled,
        "PayoutsCronFunction": payouts,
        "NotificationsFunction": stream_record,
        "TableChangesFunction": stream_record,
    }
    specs = functions()
    described = {
        name: {
            "handler": spec.handler,
            "code_uri": str(spec.code_uri.resolve().relative_to(tree_root.resolve())),
            "timeout": spec.timeout,
            "memory_mb": spec.memory_mb,
            "environment": lambda_environment(spec),
            "first_event": name in first_events,
        }
        for name, spec in specs.items()
    }
    out.write(json.dumps({"functions": described}) + "\n")
    out.flush()
    for line in sys.stdin:
        name = json.loads(line)["prepare"]
        try:
            first = first_events[name](specs[name])
            answer: dict[str, Any] = {"event": first.event, "extra_env": first.extra_env}
        except Exception as exc:
            answer = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        out.write(json.dumps(answer, default=str) + "\n")
        out.flush()


class World:
    """A tree's world in its own process (venv Python, the tree first on sys.path): its function specs and the
    state of each first event, made by that tree's code."""

    def __init__(self, label: str, root: Path, latency_ms: float) -> None:
        self.label = label
        self.log = (CACHE / f"coldstart-world-{label}.log").open("w")
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--world-server", str(root), str(latency_ms)],
            cwd=root,
            env=os.environ | {"PYTHONPATH": f"{root}{os.pathsep}{root / 'shared'}"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        first = self._read()
        self.functions: dict[str, dict[str, Any]] = first["functions"]

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"the {self.label} world stopped: see {self.log.name}")
        found: dict[str, Any] = json.loads(line)
        return found

    def prepare(self, name: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"prepare": name}) + "\n")
        self.process.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


# --- the Lambda-like child ---------------------------------------------------------------------------------


def describe(answer: Any) -> str:
    """What the first event answered, short: `201`, `200 confirmed`, `409 slot_taken`, `ok` (a job), `sent 1`."""
    if isinstance(answer, dict) and isinstance(answer.get("report"), dict):  # a stream batch: what it did
        done = {name: count for name, count in answer["report"].items() if count}
        failed = len(answer.get("batchItemFailures") or [])
        return ", ".join([f"{name} {count}" for name, count in done.items()] + [f"{failed} failed"] * bool(failed))
    if isinstance(answer, dict) and "batchItemFailures" in answer:
        return f"{len(answer['batchItemFailures'])} failed" if answer["batchItemFailures"] else "ok"
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


@dataclass
class Run:
    cold_start_s: float  # from spawning the interpreter to the first event's answer (or the import's end)
    import_s: float
    first_event_s: float
    answer: str
    cpu_s: float = 0.0  # the child's CPU time from its start to the answer: what the machine's load moves least


class ChildFailed(Exception):
    pass


def child_environment(tree: Tree, info: dict[str, Any]) -> dict[str, str]:
    task_root = tree.function_dir(info["code_uri"])
    return (
        info["environment"]
        | FAKE_AWS
        | {
            "PATH": os.environ.get("PATH", ""),
            "LANG": "C.UTF-8",
            # Lambda's order: /var/task, then the layer (/opt/python holds shared/ and the requirements).
            "PYTHONPATH": os.pathsep.join(map(str, (task_root, tree.shared, tree.packages))),
            "PYTHONDONTWRITEBYTECODE": "1",  # Lambda's /var/task and /opt are read-only
            "AWS_CONFIG_FILE": os.devnull,  # nothing of this machine's AWS configuration may leak in
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(info["memory_mb"]),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            "LAMBDA_TASK_ROOT": str(task_root),
            "_X_AMZN_TRACE_ID": TRACE_HEADER,
            "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        }
    )


def run_child(
    python: Path,
    tree: Tree,
    name: str,
    info: dict[str, Any],
    event: dict[str, Any] | None,
    extra_env: dict[str, str],
) -> Run:
    """One cold start of function `name` of `tree` (event None: import only)."""
    module, attribute = info["handler"].rsplit(".", 1)
    env = child_environment(tree, info) | {"AWS_LAMBDA_FUNCTION_NAME": name} | extra_env
    with tempfile.TemporaryDirectory(prefix="coldstart-") as scratch:
        event_file, result_file = Path(scratch) / "event.json", Path(scratch) / "result.json"
        if event is not None:
            event_file.write_text(json.dumps(event), encoding="utf-8")
        command = [str(python), "-s", "-c", CHILD, module, attribute]
        command += ["-" if event is None else str(event_file), str(result_file), str(info["timeout"])]
        spawned = time.perf_counter()
        done = subprocess.run(
            command,
            cwd=tree.function_dir(info["code_uri"]),
            env=env,
            stdout=subprocess.DEVNULL,  # the function's logs and metrics (EMF), as Lambda sends them to CloudWatch
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise ChildFailed(f"exit {done.returncode}: {done.stderr.strip().splitlines()[-1:]}")
        result = json.loads(result_file.read_text(encoding="utf-8"))
    answer = describe(result["answer"]) if event is not None else "import only"
    return Run(result["answered_at"] - spawned, result["import_s"], result["first_event_s"], answer, result["cpu_s"])


def run_floor(python: Path, packages: Path) -> float:
    """`python3.13 -c "import boto3"` on the layer's compiled requirements, timed like a cold start."""
    env = FAKE_AWS | {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(packages), "PYTHONDONTWRITEBYTECODE": "1"}
    spawned = time.perf_counter()
    done = subprocess.run([str(python), "-s", "-c", FLOOR], env=env, capture_output=True, text=True, check=True)
    return float(done.stdout) - spawned


# --- marginal import costs ---------------------------------------------------------------------------------

# Every function reaches DynamoDB (botocore), validates bodies or items (pydantic) and most call a provider
# (requests: the Cal.com client, and the HTTP client stripe uses): the part no function can do without.
UNAVOIDABLE = (
    "import botocore.session, botocore.client, pydantic, requests\n"
    "class _Model(pydantic.BaseModel):\n    value: int\n"
    "_Model(value=1)\n"
)
_ROUTE_EVENT = (
    "{'version': '2.0', 'routeKey': 'POST /x', 'rawPath': '/x', 'body': '{\"value\": 1}', 'headers': "
    "{'content-type': 'application/json'}, 'requestContext': {'http': {'method': 'POST', 'path': '/x'}, "
    "'stage': '$default'}, 'isBase64Encoded': False}"
)


def _resolver(validation: str, argument: str) -> str:
    return (
        "from aws_lambda_powertools.event_handler import APIGatewayHttpResolver\n"
        f"app = APIGatewayHttpResolver({validation})\n"
        "@app.post('/x')\n"
        f"def x({argument}) -> dict:\n    return {{}}\n"
        f"app.resolve({_ROUTE_EVENT}, None)\n"
    )


# (label, code measured on top of UNAVOIDABLE)
IMPORT_CANDIDATES: tuple[tuple[str, str], ...] = (
    (
        "Powertools Event Handler: import, one route resolved, no validation",
        _resolver("", ""),
    ),
    (
        "Powertools Event Handler with enable_validation (one route, a body model)",
        _resolver("enable_validation=True", "body: _Model"),
    ),
    ("Powertools Logger", "from aws_lambda_powertools import Logger\nLogger()"),
    ("Powertools Metrics", "from aws_lambda_powertools import Metrics\nMetrics()"),
    (
        "X-Ray SDK via Powertools Tracer (patches botocore, requests)",
        "from aws_lambda_powertools import Tracer\nTracer(patch_modules=('botocore', 'requests'))",
    ),
    (
        "Powertools Parameters (SecretsProvider)",
        "from aws_lambda_powertools.utilities.parameters import SecretsProvider",
    ),
    ("boto3", "import boto3"),
    ("email-validator", "import email_validator"),
    ("stripe", "import stripe"),
    (
        "PynamoDB (models, attributes, transactions)",
        "import pynamodb.models, pynamodb.attributes, pynamodb.transactions",
    ),
    ("jinja2", "import jinja2"),
    ("booking.observability (before: Logger, Tracer, Metrics; after: no Tracer)", "import booking.observability"),
    ("booking.api_models (the API's models)", "import booking.api_models"),
    ("booking.http (the API edge)", "import booking.http"),
    ("booking.dal.bookings", "import booking.dal.bookings"),
    ("booking.flows.intents", "import booking.flows.intents"),
    ("booking.flows.tokens", "import booking.flows.tokens"),
    ("booking.flows.confirmation", "import booking.flows.confirmation"),
    ("booking.webhooks.stripe_events", "import booking.webhooks.stripe_events"),
    ("booking.webhooks.cal_events", "import booking.webhooks.cal_events"),
    ("booking.jobs.cleanup", "import booking.jobs.cleanup"),
)


def marginal_import_ms(python: Path, tree: Tree, code: str, runs: int) -> float | str:
    program = f"{UNAVOIDABLE}import time\n_started = time.process_time()\n{code}\n"
    program += "print((time.process_time() - _started) * 1000)\n"
    env = FAKE_AWS | {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join(map(str, (tree.shared, tree.packages))),
        "PYTHONDONTWRITEBYTECODE": "1",
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "LAMBDA_TASK_ROOT": str(tree.layout),
        "_X_AMZN_TRACE_ID": TRACE_HEADER,
        "POWERTOOLS_SERVICE_NAME": "bench",
        "POWERTOOLS_METRICS_NAMESPACE": "bench",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    }
    values: list[float] = []
    for _ in range(runs):
        done = subprocess.run(
            [str(python), "-s", "-c", program], env=env, cwd=tree.layout, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["?"])[-1]
            if last.startswith("ModuleNotFoundError"):
                return "not in this tree's layer"
            return f"failed: {last}"
        values.append(float(done.stdout.strip().splitlines()[-1]))
    return statistics.median(values)


def imports_table(python: Path, trees: list[Tree], runs: int) -> Any:
    from bench.tables import Table

    table = Table(
        "cold-start-imports",
        "Marginal import costs (ms, Python 3.13 with build bytecode): each in a fresh process on top of the "
        "unavoidable set",
        ["import", *[f"{tree.label} ms" for tree in trees]],
        note=f"Unavoidable set, imported first: botocore's session and client, pydantic (one model built), "
        f"requests. CPU ms, median of {runs} processes per cell; each figure is what that import adds alone, so "
        "figures of candidates that share dependencies do not add up.",
    )
    for label, code in IMPORT_CANDIDATES:
        cells = []
        for tree in trees:
            value = marginal_import_ms(python, tree, code, runs)
            cells.append(f"{value:.1f}" if isinstance(value, float) else value)
        table.add(label, *cells)
        print(".", end="", flush=True)
    print()
    return table


# --- deployment size -------------------------------------------------------------------------------------


def _tree_size(root: Path, *, with_pyc: bool) -> int:
    return sum(
        path.stat().st_size
        for path in root.rglob("*")
        if path.is_file() and (with_pyc or "__pycache__" not in path.parts) and not path.name.endswith(".orig")
    )


def layer_size(python: Path) -> tuple[int, int, str] | None:
    """The layer as `sam build` makes it (shared/ + its requirements for arm64 / cp313), with and without the
    bytecode `make build` adds: (without, with, how). None when the arm64 wheels cannot be fetched."""
    requirements = ROOT / "shared" / "requirements.txt"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:12]
    packages = CACHE / f"layer-{digest}" / "python"
    if not (packages.parent / "complete").exists():
        shutil.rmtree(packages.parent, ignore_errors=True)
        install = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        command = [*install, "-r", str(requirements), "--target", str(packages), *LAMBDA_PLATFORM]
        command += ["--only-binary=:all:", "--no-compile"]  # no bytecode: what `sam build` ships
        if subprocess.run(command, capture_output=True, check=False).returncode != 0:
            return None
        (packages.parent / "complete").touch()
    shared = packages.parent / "shared"
    shutil.rmtree(shared, ignore_errors=True)
    shutil.copytree(ROOT / "shared", shared, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for stale in list(packages.rglob("__pycache__")):
        shutil.rmtree(stale)
    compile_tree(python, packages, shared)
    without = _tree_size(packages, with_pyc=False) + _tree_size(shared, with_pyc=False)
    with_pyc = _tree_size(packages, with_pyc=True) + _tree_size(shared, with_pyc=True)
    return without, with_pyc, "pip --platform manylinux2014_aarch64 cp313; bytecode by Python 3.13"


def code_size(path: Path) -> tuple[int, int]:
    """A function's folder as shipped: (without bytecode, with the bytecode of its modules)."""
    files = [file for file in path.rglob("*") if file.is_file() and "__pycache__" not in file.parts]
    sources = sum(file.stat().st_size for file in files)
    compiled = sum(
        16 + len(marshal.dumps(compile(file.read_bytes(), str(file), "exec"))) for file in files if file.suffix == ".py"
    )
    return sources, sources + compiled


# --- the benchmark ---------------------------------------------------------------------------------------


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000 if values else 0.0


def _ratio_cell(ms: float, floor_ms: float, limit: float | None = None) -> str:
    ratio = round(ms / floor_ms, 2)
    if limit is None:
        return f"{ms:.0f} ({ratio:g}x)"
    from bench.tables import target

    return f"{ms:.0f}: " + target(ratio, limit, unit="x")


def main(argv: list[str] | None = None) -> int:
    from bench.baseline import DEFAULT_BEFORE, checkout
    from bench.tables import Table, machine, print_table, save

    parser = argparse.ArgumentParser(prog="python -m bench.cold_start", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="measured rounds (after one warm-up round)")
    parser.add_argument("--only", nargs="*", help="logical ids of the functions to measure (default: all)")
    parser.add_argument("--before", default=DEFAULT_BEFORE, help="the ref of the 'before' columns (a git ref)")
    parser.add_argument("--no-before", action="store_true", help="measure this checkout only")
    parser.add_argument("--provider-latency-ms", type=float, default=0.0, help="wait per Stripe or Cal.com request")
    parser.add_argument("--imports", action="store_true", help="only the marginal import costs (no cold starts)")
    parser.add_argument("--import-runs", type=int, default=7, help="processes per marginal import figure")
    parser.add_argument("--no-sizes", action="store_true", help="skip the deployment sizes")
    args = parser.parse_args(argv)

    python = lambda_python()
    info = machine()
    print(f"Cold start, {info['cpu']} ({info['cpus']} CPUs), {info['arch']}; children run {python}", flush=True)
    ca_pem, _, _ = make_certificates()
    roots: dict[str, Path] = {}
    with checkout(args.before) if not args.no_before else _nothing() as before_root:
        if before_root is not None:
            roots[f"before ({args.before})"] = Path(before_root)
        roots["after"] = ROOT
        worlds: dict[str, World] = {}
        trees: dict[str, Tree] = {}
        try:
            for label, root in roots.items():
                world = None if args.imports else World(_slug(label), root, args.provider_latency_ms)
                code_uris = sorted({spec["code_uri"] for spec in world.functions.values()}) if world else []
                trees[label] = lay_out(_slug(label), root, code_uris, python)
                trust_local_ca(trees[label].packages, ca_pem.read_bytes())
                if world:
                    worlds[label] = world
            if args.imports:
                print(f"Marginal imports, {args.import_runs} processes each ", end="", flush=True)
                table = imports_table(python, list(trees.values()), args.import_runs)
                print_table(table)
                save("cold_start_imports", [table], {"unavoidable": UNAVOIDABLE})
                return 0
            return _measure(args, python, trees, worlds, info, Table, print_table, save)
        finally:
            for world in worlds.values():
                world.close()


def _slug(label: str) -> str:
    return label.split(" ", 1)[0]


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _measure(
    args: argparse.Namespace,
    python: Path,
    trees: dict[str, Tree],
    worlds: dict[str, World],
    info: dict[str, str],
    Table: Any,
    print_table: Callable[[Any], None],
    save: Callable[..., Path],
) -> int:
    after = "after"
    names = [name for name in worlds[after].functions if not args.only or name in args.only]
    runs: dict[str, dict[str, list[Run]]] = {label: {name: [] for name in names} for label in trees}
    import_only: dict[str, dict[str, str]] = {label: {} for label in trees}  # why a row has no first event
    floor: list[float] = []
    print(
        f"{len(names)} functions x {len(trees)} trees, {args.runs} rounds after a warm-up, TLS on loopback, "
        f"provider latency {args.provider_latency_ms:g} ms ",
        end="",
        flush=True,
    )
    labels = list(trees)
    for round_number in range(args.runs + 1):
        warm_up = round_number == 0
        elapsed = run_floor(python, trees[after].packages)
        if not warm_up:
            floor.append(elapsed)
        for index, name in enumerate(names):
            # Alternate which tree goes first, so neither always follows the other's disk and CPU state.
            order = labels if (round_number + index) % 2 == 0 else labels[::-1]
            for label in order:
                function = worlds[label].functions.get(name)
                if function is None:
                    import_only[label][name] = "not in this tree's template"
                    continue
                event, extra_env = None, {}
                if name not in import_only[label]:
                    prepared = worlds[label].prepare(name) if function["first_event"] else {"error": "no first event"}
                    if "error" in prepared:
                        import_only[label][name] = f"first event not prepared: {prepared['error']}"
                    else:
                        event, extra_env = prepared["event"], prepared["extra_env"]
                try:
                    run = run_child(python, trees[label], name, function, event, extra_env)
                except ChildFailed as failed:
                    if event is None:
                        raise SystemExit(f"{label} {name}: the import failed: {failed}") from None
                    import_only[label][name] = f"first event failed: {failed}"
                    run = run_child(python, trees[label], name, function, None, {})
                if not warm_up:
                    runs[label][name].append(run)
        print("warm " if warm_up else ".", end="", flush=True)
    print()

    floor_ms = median_ms(floor)
    results: dict[str, dict[str, dict[str, Any]]] = {label: {} for label in trees}
    for label in trees:
        for name in names:
            measured = [run for run in runs[label][name] if run.answer != "import only"] or runs[label][name]
            if not measured:
                continue
            results[label][name] = {
                "answer": measured[-1].answer,
                "import_ms": median_ms([run.import_s for run in runs[label][name]]),
                "first_event_ms": median_ms([run.first_event_s for run in measured])
                if name not in import_only[label]
                else 0.0,
                "cold_start_ms": median_ms([run.cold_start_s for run in measured]),
                "cpu_ms": median_ms([run.cpu_s for run in measured]),
                "import_only": import_only[label].get(name),
            }
    before_labels = [label for label in trees if label != after]
    columns = ["function", "first event (after)"]
    for label in before_labels:
        columns += [f"{label}: import ms (x floor)", f"{label}: cold start ms (x floor)"]
    columns += ["CPU ms, start to answer" + (" (before → after)" if before_labels else "")]
    columns += [
        f"after: import ms (target ≤ {IMPORT_TARGET:g}x floor)",
        f"after: cold start ms (target ≤ {COLD_START_TARGET:g}x floor)",
    ]
    table = Table(
        "cold-start",
        f"Cold start, import + first event (Python 3.13, the bytecode `make build` ships, TLS); floor `python3.13 -c "
        f'"import boto3"` {floor_ms:.0f} ms',
        columns,
        note=f"Median of {args.runs} runs after a warm-up"
        + ("; before and after interleaved in the same run, on the same machine state" if before_labels else "")
        + f"; provider latency {args.provider_latency_ms:g} ms per Stripe or Cal.com request. "
        "A cold start runs from spawning the interpreter to the first answer. CPU ms: the child's own CPU time to "
        "the answer (time.process_time), which the machine's load moves far less than the wall-clock figures.",
    )
    notes: list[str] = []
    for name in names:
        row = results[after].get(name)
        if row is None:
            continue
        cells: list[str] = [name, row["answer"]]
        for label in before_labels:
            found = results[label].get(name)
            if found is None:
                cells += ["-", "-"]
                continue
            cold = _ratio_cell(found["cold_start_ms"], floor_ms)
            cells += [
                _ratio_cell(found["import_ms"], floor_ms),
                cold + (" import only" if found["import_only"] else ""),
            ]
            if found["import_only"]:
                notes.append(f"{label} {name}: import only ({found['import_only']})")
        before_cpu = [f"{results[label][name]['cpu_ms']:.0f} → " for label in before_labels if name in results[label]]
        cells += ["".join(before_cpu) + f"{row['cpu_ms']:.0f}"]
        cells += [_ratio_cell(row["import_ms"], floor_ms, IMPORT_TARGET)]
        cells += [_ratio_cell(row["cold_start_ms"], floor_ms, COLD_START_TARGET)]
        if row["import_only"]:
            notes.append(f"after {name}: import only ({row['import_only']})")
        table.add(*cells)
    if notes:
        table.note += " " + "; ".join(notes) + "."
    print_table(table)
    tables = [table]

    extra: dict[str, Any] = {
        "runs": args.runs,
        "floor_ms": floor_ms,
        "provider_latency_ms": args.provider_latency_ms,
        "python": str(python),
        "functions": results[after],
        "before": {label: results[label] for label in before_labels},
    }
    if not args.no_sizes:
        size = layer_size(python)
        if size is not None:
            without, with_pyc, how = size
            mb = 1024 * 1024
            sizes = Table(
                "cold-start-size",
                "Deployment size, installed (unzipped; Lambda's limit is 250 MB): the function's folder + the layer",
                ["function", "code KB", "total MB (sam build)", "total MB with bytecode (make build)"],
                note=f"Layer = shared/ + requirements ({how}).",
            )
            for name in names:
                code, code_pyc = code_size(ROOT / worlds[after].functions[name]["code_uri"])
                sizes.add(
                    name, f"{code / 1024:.1f}", f"{(code + without) / mb:.1f}", f"{(code_pyc + with_pyc) / mb:.1f}"
                )
                results[after][name] |= {"code_bytes": code, "total_bytes": code + without}
            extra["layer"] = {"without_pyc": without, "with_pyc": with_pyc, "source": how}
            print_table(sizes)
            tables.append(sizes)
    path = save("cold_start", tables, extra)
    print(f"\nwritten to {path.relative_to(ROOT)} ({info['commit']})")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--world-server":
        # The protocol's own stdout; the handlers' logs (Powertools writes to stdout) go to stderr.
        protocol = os.fdopen(os.dup(1), "w")
        os.dup2(2, 1)
        sys.path[0] = sys.argv[2]  # the tree's code, not this file's folder
        _world_server(Path(sys.argv[2]), float(sys.argv[3]), protocol)
        sys.exit(0)
    sys.exit(main())
