"""The code of an earlier commit beside this checkout, for "before" columns measured in the same run as "after".

    with checkout("perf-round2-before") as before:   # a git worktree of that ref (a tag, a branch, a commit)
        ... before / "shared", before / "functions" ...

The worktree lives under bench/.cache/baseline/{commit} and is reused by later runs (it is never edited).
A ref this clone does not have is an error that says how to get it.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.tables import ROOT

# The last commit before the second performance round (issue 15): `make bench`'s default "before".
DEFAULT_BEFORE = "perf-round2-before"
_CACHE = ROOT / "bench" / ".cache" / "baseline"


class UnknownRef(Exception):
    pass


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True).stdout.strip()


def resolve(ref: str) -> str:
    try:
        return _git("rev-parse", "--verify", f"{ref}^{{commit}}")
    except subprocess.CalledProcessError as exc:
        raise UnknownRef(
            f"{ref!r} is not a commit of this clone (git fetch --tags, or pass another --before ref)"
        ) from exc


@contextmanager
def checkout(ref: str) -> Iterator[Path]:
    commit = resolve(ref)
    path = _CACHE / commit[:12]
    if not (path / ".git").exists():
        _CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "-C", str(ROOT), "worktree", "prune"], check=True)
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", "--force", str(path), commit],
            check=True,
            capture_output=True,
        )
    yield path
