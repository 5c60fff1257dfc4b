"""Not one number changes: every shipped scenario reproduces its recorded ledger sums and KPIs.

The reference (``tests/data/golden.json``, written by ``python tests/golden.py``) holds, per
scenario, the sum over periods and replications of every ledger column per (node, SKU), every KPI
of :func:`reconciliation.kpis.compute_kpis` and the size of replication 0's event trace. A change
that is meant to keep the simulated numbers (moving code, a faster ledger, a new output) must
reproduce them to 1e-9 (relative to the magnitude). Columns or KPIs added later are not checked
here; recorded ones must still exist.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import golden  # noqa: E402

RECORDED = json.loads(golden.GOLDEN.read_text(encoding="utf-8"))
TOLERANCE = 1e-9


def _differences(expected: dict[str, float | None], actual: dict[str, float | None]) -> list[str]:
    out = []
    for key, want in expected.items():
        if key not in actual:
            out.append(f"{key}: missing (recorded {want!r})")
            continue
        got = actual[key]
        if want is None or got is None:
            if want is not got:
                out.append(f"{key}: recorded {want!r}, now {got!r}")
        elif abs(got - want) > TOLERANCE * max(1.0, abs(want), abs(got)):
            out.append(f"{key}: recorded {want!r}, now {got!r} (difference {got - want:.3g})")
    return out


def test_every_shipped_scenario_is_recorded() -> None:
    assert sorted(RECORDED) == sorted(p.stem for p in golden.SCENARIOS)


@pytest.mark.parametrize("path", golden.SCENARIOS, ids=lambda p: p.stem)
def test_reproduces_recorded_numbers(path: Path) -> None:
    if path.stem not in RECORDED:
        pytest.skip(f"{path.stem} was added after the reference was recorded")
    now = golden.numbers(path)
    want = RECORDED[path.stem]
    problems = [f"ledger {d}" for d in _differences(want["ledger"], now["ledger"])]
    problems += [f"kpi {d}" for d in _differences(want["kpis"], now["kpis"])]
    problems += [f"trace {d}" for d in _differences(want["trace"], now["trace"])]
    assert not problems, f"{len(problems)} numbers changed:\n" + "\n".join(problems[:20])


def test_the_comparison_sees_a_change() -> None:
    """The check itself: a relative change of 1e-8 is reported, 1e-12 is not, None is kept."""
    assert _differences({"a": 100.0}, {"a": 100.0 * (1 + 1e-8)})
    assert not _differences({"a": 100.0}, {"a": 100.0 * (1 + 1e-12)})
    assert _differences({"a": None}, {"a": 0.0}) and _differences({"a": 1.0}, {})
    assert not math.isnan(TOLERANCE)
