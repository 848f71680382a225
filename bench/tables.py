"""One shape for every benchmark's figures: printed as tables with their targets, saved as JSON, and rendered
into the README's Performance section by `python -m bench.readme` (between `<!-- bench:{id} -->` and
`<!-- /bench:{id} -->` markers), so the README shows the figures of the last `make bench`, not copied ones.

A benchmark builds `Table`s, prints them with `print_table`, and saves them with `save(name, tables, extra)` as
`bench/results/{name}.json` ({"generated_at", "machine", "tables": [...], **extra}).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


@dataclass
class Table:
    id: str  # the README marker's id: lowercase words joined by '-'
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    # One line under the table: how it was measured, what the target is and whether it is met.
    note: str = ""

    def add(self, *cells: object) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"{self.id}: {len(cells)} cells for {len(self.columns)} columns")
        self.rows.append([str(cell) for cell in cells])

    def markdown(self) -> str:
        lines = [
            "| " + " | ".join(self.columns) + " |",
            "|" + "---|" * len(self.columns),
            *("| " + " | ".join(row) + " |" for row in self.rows),
        ]
        return "\n".join(lines) + (f"\n\n{self.note}" if self.note else "")


def target(value: float, limit: float, *, unit: str = "", at_most: bool = True) -> str:
    """`12 (target ≤ 10: missed by 2)` or `9 (target ≤ 10: met)`."""
    met = value <= limit if at_most else value >= limit
    sign = "≤" if at_most else "≥"
    shown = f"{value:g}{unit}"
    verdict = "met" if met else f"missed by {abs(value - limit):g}{unit}"
    return f"{shown} (target {sign} {limit:g}{unit}: {verdict})"


def print_table(table: Table) -> None:
    print(f"\n{table.title}\n")
    print(table.markdown())
    sys.stdout.flush()


def machine() -> dict[str, str]:
    """What the figures were measured on: they are only comparable as ratios on the same machine state."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {
        "cpu": cpu,
        "cpus": str(os.cpu_count()),
        "arch": platform.machine(),
        "python": platform.python_version(),
        "commit": commit,
    }


def save(name: str, tables: list[Table], extra: dict[str, Any] | None = None) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    report = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "tables": [asdict(table) for table in tables],
        **(extra or {}),
    }
    path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def load_tables(name: str) -> list[Table]:
    path = RESULTS / f"{name}.json"
    if not path.exists():
        return []
    return [Table(**table) for table in json.loads(path.read_text(encoding="utf-8")).get("tables", [])]
