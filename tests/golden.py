"""Reference numbers of every shipped scenario: the per-node ledger column sums and the KPIs.

``python -m tests.golden`` records them in ``tests/data/golden.json``;
``tests/test_golden.py`` checks that the twin still produces them to 1e-9. They were recorded
before the code was reshaped into layers, so a refactor that changes any simulated number (a draw
order, an event order, a cost formula) fails that test. Re-record only when a change of the
numbers is intended and explained.

Each scenario runs with its own seed, at most :data:`PERIODS` periods (``retail_1000``:
:data:`LARGE_PERIODS`), :data:`REPLICATIONS` replications, warm-up capped below the horizon.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
GOLDEN = ROOT / "tests" / "data" / "golden.json"
PERIODS = 200
LARGE = {"retail_1000"}
LARGE_PERIODS = 20
REPLICATIONS = 2


def settings(path: Path) -> dict[str, int]:
    """Horizon and replications of the recorded run of the scenario at ``path``."""
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    periods = min(int(data["periods"]), LARGE_PERIODS if path.stem in LARGE else PERIODS)
    warmup = min(int(data.get("warmup_periods", 0)), periods // 4)
    replications = 1 if path.stem in LARGE else REPLICATIONS
    return {"periods": periods, "warmup_periods": warmup, "replications": replications}


def flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, float | None]]:
    """``(dotted.path, number)`` for every number (or None) in nested KPI dictionaries."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from flatten(item, f"{prefix}.{key}" if prefix else str(key))
    elif value is None or isinstance(value, bool):
        yield prefix, None if value is None else float(value)
    elif isinstance(value, int | float):
        yield prefix, float(value)


def numbers(path: Path) -> dict[str, Any]:
    """What is recorded for one scenario (see the module docstring)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from golden_api import ledger_and_kpis  # the one place that knows the twin's API

    ledger, kpis, trace = ledger_and_kpis(path, **settings(path))
    sums = (
        ledger.drop(columns=["replication", "period", "tier", "echelon"])
        .groupby(["node", "sku"], sort=True)
        .sum()
    )
    columns = {
        f"{node}/{sku}.{column}": float(value)
        for (node, sku), row in sums.iterrows()
        for column, value in row.items()
    }
    large = path.stem in LARGE  # its per-node KPIs are left out: the ledger sums cover the nodes
    return {
        "ledger": columns,
        "kpis": {
            k: v
            for k, v in flatten(kpis)
            if (v is None or math.isfinite(v)) and not (large and k.startswith("nodes."))
        },
        "trace": trace,
    }


def main() -> int:
    sys.path.insert(0, str(Path(__file__).parent))
    out = {path.stem: numbers(path) for path in SCENARIOS}
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {GOLDEN} ({len(out)} scenarios)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
