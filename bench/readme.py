"""Write the figures of the last benchmark run into README.md: every table saved in bench/results/*.json
(bench.tables.save) replaces what stands between its markers

    <!-- bench:{table id} -->
    ...
    <!-- /bench:{table id} -->

    python -m bench.readme            # rewrite README.md from bench/results/
    python -m bench.readme --check    # only list markers no saved table fills (exit 1) and tables without a marker

The prose around the markers is written by hand; the tables are never copied by hand.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from bench.tables import RESULTS, ROOT, Table

README = ROOT / "README.md"
_BLOCK = re.compile(r"(<!-- bench:(?P<id>[a-z0-9-]+) -->\n)(?P<body>.*?)(<!-- /bench:(?P=id) -->)", re.DOTALL)


def saved_tables(results: Path = RESULTS) -> dict[str, tuple[Table, str]]:
    """Every saved table by id, with the run it came from (file name and time)."""
    tables: dict[str, tuple[Table, str]] = {}
    for path in sorted(results.glob("*.json")):
        report = json.loads(path.read_text(encoding="utf-8"))
        origin = f"{path.stem}, {report.get('generated_at', '?')}"
        for raw in report.get("tables", []):
            table = Table(**raw)
            tables[table.id] = (table, origin)
    return tables


def render(text: str, tables: dict[str, tuple[Table, str]]) -> tuple[str, list[str]]:
    """The README with every marked block filled; the ids of the markers no saved table fills."""
    missing: list[str] = []

    def fill(match: re.Match[str]) -> str:
        found = tables.get(match["id"])
        if found is None:
            missing.append(match["id"])
            return match.group(0)
        table, _ = found
        return f"{match.group(1)}{table.markdown()}\n{match.group(4)}"

    return _BLOCK.sub(fill, text), missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only report; do not write README.md")
    args = parser.parse_args(argv)
    tables = saved_tables()
    text = README.read_text(encoding="utf-8")
    new_text, missing = render(text, tables)
    marked = {match["id"] for match in _BLOCK.finditer(text)}
    for table_id in sorted(set(tables) - marked):
        print(f"saved, not in the README: {table_id} ({tables[table_id][1]})")
    for table_id in missing:
        print(f"in the README, not saved by any run: {table_id}", file=sys.stderr)
    if not args.check and new_text != text:
        README.write_text(new_text, encoding="utf-8")
        print(f"README.md: {len(marked) - len(missing)} tables written from {RESULTS.relative_to(ROOT)}/")
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main())
