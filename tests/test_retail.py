"""The shipped 1,000-store retail scenario (the scale benchmark): it is exactly what its generator
(``benchmarks/make_retail.py``) writes, and a short run of it keeps the audit on and writes one
ledger row per node per period.
"""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest
import yaml

import twin

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "retail_1000.yaml"


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_retail", ROOT / "benchmarks" / "make_retail.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("make_retail", module)
    spec.loader.exec_module(module)
    return module


make_retail = _load_generator()


@pytest.fixture(scope="module")
def text() -> str:
    return SCENARIO.read_text(encoding="utf-8")


def test_file_is_the_generators_output(text: str) -> None:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C parser: 4x faster here
    data = yaml.load(text, Loader=loader)
    expected = make_retail.retail_network()
    assert data == expected, f"scenarios/retail_1000.yaml drifted; regenerate: {make_retail.COMMAND}"
    assert text == make_retail.to_yaml(expected, make_retail.HEADER), (
        f"same data, other text (header or layout); regenerate: {make_retail.COMMAND}"
    )
    kinds = Counter(n["kind"] for n in data["nodes"])
    assert kinds == {"supplier": 3, "warehouse": 20, "store": 1000}
    assert len(data["lanes"]) == 20 + 1000
    assert data["periods"] == 365 and data["replications"] == 1
    # every warehouse serves the same number of stores, every supplier at least one warehouse
    served = Counter(ln["from"] for ln in data["lanes"])
    assert {served[n["id"]] for n in data["nodes"] if n["kind"] == "warehouse"} == {50}
    assert all(served[n["id"]] >= 1 for n in data["nodes"] if n["kind"] == "supplier")
    means = [n["demand"]["mean"] for n in data["nodes"] if n["kind"] == "store"]
    assert min(means) == 5 and max(means) == 40


def test_short_run_is_audited_with_one_row_per_node_and_period() -> None:
    # warmup_periods (30) must stay below periods, so the short run overrides it too
    scenario = twin.load_scenario(SCENARIO, {"periods": 5, "warmup_periods": 0})
    assert scenario.periods == 5 and len(scenario.nodes) == 1023
    sim = twin.Simulation(scenario)
    assert sim.audit  # the ledger identities are checked every period
    result = sim.run()
    rows = Counter((r.period, r.node) for r in result.rows)
    assert len(result.rows) == 5 * 1023
    assert set(rows.values()) == {1}
    assert {p for p, _ in rows} == set(range(5))
    assert {n for _, n in rows} == {n.id for n in scenario.nodes}
    demand = sum(r.demand for r in result.rows if r.tier == "store")
    assert demand > 0 and sum(r.sold for r in result.rows if r.tier == "store") <= demand


def test_generator_scales_and_refuses_idle_suppliers() -> None:
    small = twin.scenario_from_dict(make_retail.retail_network(3, 6, 60, 10, warmup_periods=0))
    assert len(small.nodes) == 3 + 6 + 60
    with pytest.raises(ValueError, match="suppliers"):
        make_retail.retail_network(suppliers=3, warehouses=2, stores=100)
    with pytest.raises(ValueError, match="multiple"):
        make_retail.retail_network(warehouses=3, stores=100)
