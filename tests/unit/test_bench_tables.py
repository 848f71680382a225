"""The benchmarks' table format and the README writer (bench/tables.py, bench/readme.py): pure logic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import readme
from bench.tables import Table, target


def test_target_says_met_or_by_how_much_it_is_missed() -> None:
    assert target(9, 10) == "9 (target ≤ 10: met)"
    assert target(12.5, 10) == "12.5 (target ≤ 10: missed by 2.5)"
    assert target(1.8, 2.0, unit="x") == "1.8x (target ≤ 2x: met)"
    assert target(0, 1, at_most=False) == "0 (target ≥ 1: missed by 1)"


def test_a_row_must_fill_every_column() -> None:
    table = Table("t", "T", ["a", "b"])
    table.add(1, "x")
    with pytest.raises(ValueError, match="1 cells for 2 columns"):
        table.add(1)
    assert table.markdown() == "| a | b |\n|---|---|\n| 1 | x |"


def test_readme_blocks_are_filled_from_saved_tables_and_unfilled_ones_reported(tmp_path: Path) -> None:
    table = Table("cost-booking", "Booking", ["step", "WRU"], [["verify", "3"]], note="Measured.")
    (tmp_path / "cost.json").write_text(json.dumps({"generated_at": "now", "tables": [table.__dict__]}))
    text = (
        "Intro.\n<!-- bench:cost-booking -->\nold figures\n<!-- /bench:cost-booking -->\n"
        "<!-- bench:cold-start -->\nkept\n<!-- /bench:cold-start -->\nEnd.\n"
    )
    new_text, missing = readme.render(text, readme.saved_tables(tmp_path))
    assert missing == ["cold-start"]
    assert "old figures" not in new_text
    filled = "| step | WRU |\n|---|---|\n| verify | 3 |\n\nMeasured.\n"
    assert f"<!-- bench:cost-booking -->\n{filled}<!-- /bench:cost-booking -->" in new_text
    assert "<!-- bench:cold-start -->\nkept\n<!-- /bench:cold-start -->" in new_text
    assert new_text.startswith("Intro.\n") and new_text.endswith("End.\n")
