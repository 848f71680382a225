"""Start `python -m local serve` in a subprocess, as a new user would, for benchmarks and black-box tests.

A subprocess (not an in-process LocalEnvironment) keeps the caller's interpreter, environment and mocks out
of the runner: the API is exercised only over HTTP, exactly as the site and the providers reach it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent

# Settings of the caller (a test suite's keys and table, a shell's real provider keys, a moved clock) must
# not leak into the runner: a provider key would mean "talk to the real provider".
INHERITED_PREFIXES = (
    "STRIPE_",
    "CAL_",
    "TABLE_NAME",
    "OWNER_ALERTS",
    "AWS_",
    "SITE_BASE_URL",
    "STAGE",
    "POWERTOOLS_",
    "CONFIRM_DEADLINE_SECONDS",
    "LOCAL_",
)


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith(INHERITED_PREFIXES)}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class SpawnedRunner:
    api: str
    info: dict[str, Any]  # GET /_local: where the doubles and moto live
    log_path: Path
    process: subprocess.Popen[bytes]

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]


@contextlib.contextmanager
def spawned_runner(
    extra_env: Mapping[str, str] | None = None,
    *,
    startup_timeout: float = 60.0,
    site_port: int = 0,
    root: Path = ROOT,
) -> Iterator[SpawnedRunner]:
    """A runner of the code under `root` (this checkout, or an earlier commit's worktree for a benchmark's "before")
    on a free port without schedules (nothing moves unless the caller asks), stopped on exit.

    Its output goes to a file, not a pipe: a fuzzed runner logs many stack traces, and an unread pipe would
    fill up and block it.
    """
    port = free_port()
    log_file = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in `finally`, read by name meanwhile
        prefix="local-runner-", suffix=".log", delete=False
    )
    process = subprocess.Popen(  # noqa: S603 - our own CLI
        # The site kit on `site_port` (0: any free one); SITE_BASE_URL follows it (GET /_local says where, as "site").
        [sys.executable, "-m", "local", "serve", "--port", str(port), "--site-port", str(site_port), "--no-schedules"],
        cwd=root,
        env=clean_env(extra_env),
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    api = f"http://127.0.0.1:{port}"
    runner: SpawnedRunner | None = None
    try:
        deadline = time.monotonic() + startup_timeout
        while runner is None:
            if process.poll() is not None or time.monotonic() > deadline:
                output = Path(log_file.name).read_text(encoding="utf-8", errors="replace")[-4000:]
                raise RuntimeError(f"the local runner did not start (exit code {process.poll()}):\n{output}")
            try:
                response = requests.get(f"{api}/_local", timeout=1)
            except requests.ConnectionError:
                time.sleep(0.2)
                continue
            runner = SpawnedRunner(api=api, info=response.json(), log_path=Path(log_file.name), process=process)
        yield runner
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        log_file.close()
        with contextlib.suppress(OSError):
            Path(log_file.name).unlink()


def error_code(response: requests.Response) -> str | None:
    """The `error.code` of an error answer of ours (None for a success or a body that is not ours)."""
    if response.ok:
        return None
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return None
