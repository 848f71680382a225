"""What a chaos run found: the figures (what was done, delivered and injected) and the violations, with seeds.

One `ChaosReport` per run; each scenario adds its counters and violations. `lines()` is what `make chaos` prints.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

DEFAULT_SCENARIOS = 20  # inside the normal suite (`make test`); `make chaos` asks for 250
DEFAULT_BASE_SEED = 90_000


@dataclass(frozen=True)
class ChaosConfig:
    """CHAOS_SCENARIOS (how many), CHAOS_BASE_SEED (scenario i uses base + i), CHAOS_SEED (re-run one seed, with its
    trace), CHAOS_TRACE=1 (print the trace of every scenario with a violation)."""

    base_seed: int = DEFAULT_BASE_SEED
    scenarios: int = DEFAULT_SCENARIOS
    only_seed: int | None = None
    trace: bool = False

    @classmethod
    def from_env(cls) -> ChaosConfig:
        only = os.environ.get("CHAOS_SEED")
        return cls(
            base_seed=int(os.environ.get("CHAOS_BASE_SEED") or DEFAULT_BASE_SEED),
            scenarios=int(os.environ.get("CHAOS_SCENARIOS") or DEFAULT_SCENARIOS),
            only_seed=int(only) if only else None,
            trace=bool(only) or os.environ.get("CHAOS_TRACE", "") not in ("", "0"),
        )

    def seeds(self) -> list[int]:
        if self.only_seed is not None:
            return [self.only_seed]
        return [self.base_seed + i for i in range(self.scenarios)]


@dataclass(frozen=True)
class Violation:
    seed: int
    check: str  # "a" .. "m", see tests/chaos/invariants.py
    booking: str  # "b1".. (the scenario's booking) or "-"
    text: str

    def line(self) -> str:
        return f"seed {self.seed} ({self.check}) {self.booking}: {self.text}"


CHECK_NAMES = {
    "a": "refunds <= captured",
    "b": "cancellation refund = policy",
    "c": "provider transfers = share, not before 72 h",
    "d": "no slot over capacity",
    "e": "closed booking's slot offered again",
    "f": "no webhook event stuck without a flag",
    "g": "no handler error once faults are healed",
    "h": "requests to Cal.com follow its contract",
    "i": "no lost payment (kept, returned or flagged)",
    "j": "owner actions answer 200/409/422/503, retries find the same effect",
    "k": "balance and each fee paid at most once, balance_due 0 once paid, no more kept than the price",
    "l": "scheduled balance charged once, on time, never after a cancellation or the owner's collection",
    "m": "late-cancellation fee only when priced by policy, once, = fee - captured before it",
}

# The order figures are printed in; anything else counted is printed after, sorted.
FIGURE_ORDER = [
    "bookings",
    "actions",
    "events.stripe",
    "events.cal",
    "delivered",
    "delivered.concurrently",
    "duplicated",
    "reordered",
    "late",
    "dropped.cal",
    "lost.stripe_redelivered_late",
    "redelivered.after_non_2xx",
    "webhook.non_2xx",
    "faults",
    "jumps",
    "jobs",
]


@dataclass
class ChaosReport:
    scenarios: int = 0
    seconds: float = 0.0
    figures: Counter[str] = field(default_factory=Counter)
    violations: list[Violation] = field(default_factory=list)
    traces: dict[int, list[str]] = field(default_factory=dict)
    harness_errors: list[str] = field(default_factory=list)  # scenarios the harness itself could not play
    show_traces: bool = False  # CHAOS_SEED / CHAOS_TRACE: print the kept traces too

    def add(
        self, seed: int, figures: Counter[str], violations: list[Violation], trace: list[str], keep_trace: bool
    ) -> None:
        self.scenarios += 1
        self.figures.update(figures)
        self.violations.extend(violations)
        if keep_trace or (violations and len(self.traces) < 3):
            self.traces[seed] = trace

    def lines(self, *, with_traces: bool | None = None) -> list[str]:
        with_traces = self.show_traces if with_traces is None else with_traces
        out = [
            f"chaos: {self.scenarios} scenarios in {self.seconds:.0f} s, "
            f"{len(self.violations)} violations in {len({v.seed for v in self.violations})} scenarios"
            + (f", {len(self.harness_errors)} HARNESS ERRORS" if self.harness_errors else "")
        ]
        groups: dict[str, list[str]] = {"": [], "action.": [], "owner.": [], "fault.": [], "checks": [], "ms.": []}
        main = [name for name in FIGURE_ORDER if name in self.figures]
        groups[""] = main + sorted(
            n
            for n in self.figures
            if n not in FIGURE_ORDER
            and not n.startswith(("action.", "owner.", "fault.", "ms.", "b.", "c.", "e.", "f.", "j.", "k.", "l.", "m."))
        )
        groups["owner."] = sorted(n for n in self.figures if n.startswith("owner."))
        groups["action."] = sorted(n for n in self.figures if n.startswith("action."))
        groups["fault."] = sorted(n for n in self.figures if n.startswith("fault."))
        groups["checks"] = sorted(
            n for n in self.figures if n.startswith(("b.", "c.", "e.", "f.", "j.", "k.", "l.", "m."))
        )
        groups["ms."] = sorted(n for n in self.figures if n.startswith("ms.")) if with_traces else []
        titles = {
            "": "figures",
            "action.": "actions",
            "owner.": "owner",
            "fault.": "faults",
            "checks": "checked",
            "ms.": "milliseconds",
        }
        for prefix, names in groups.items():
            cells = [
                f"{name.removeprefix(prefix) if prefix.endswith('.') else name}={self.figures[name]}" for name in names
            ]
            for index in range(0, len(cells), 7):
                title = titles[prefix] + ":" if index == 0 else ""
                out.append(f"  {title:<13} " + "  ".join(cells[index : index + 7]))
        by_check = Counter(v.check for v in self.violations)
        for check, name in CHECK_NAMES.items():
            out.append(f"  ({check}) {name}: {by_check.get(check, 0)} violations")
        for violation in self.violations:
            out.append("  VIOLATION " + violation.line())
        for error in self.harness_errors:
            out.append("  HARNESS ERROR " + error)
        if self.violations or self.harness_errors:
            out.append("  re-run one seed with its trace: CHAOS_SEED=<seed> make chaos")
        if with_traces:
            for seed, trace in self.traces.items():
                out.append(f"  --- trace of seed {seed} ---")
                out.extend("  " + line for line in trace)
        return out
