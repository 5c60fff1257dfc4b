"""External demand series: wide and long tables, CSV and Parquet, evaluation sets, and
a clear ScenarioError (file, YAML path, value) for every mistake in the data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from entities.errors import ScenarioError
from twin import Simulation, load_scenario


def write_scenario(
    tmp: Path,
    series: dict[str, Any],
    *,
    periods: int = 6,
    replications: int = 1,
    name: str = "scen.yaml",
) -> Path:
    data = {
        "name": "series",
        "periods": periods,
        "replications": replications,
        "nodes": [
            {"id": "P", "kind": "supplier"},
            {"id": "north", "kind": "store", "demand_series": series},
            {"id": "south", "kind": "store", "unmet_demand": "lost", "demand_series": series},
        ],
        "lanes": [
            {"from": "P", "to": "north", "lead_time": 1},
            {"from": "P", "to": "south", "lead_time": 1},
        ],
        "agents": [
            {"nodes": ["north", "south"], "kind": "base_stock", "params": {"base_stock_level": 10}}
        ],
    }
    path = tmp / name
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


WIDE = "period,north,south\n0,3,1\n1,4,0\n2,5,2\n3,6,1\n4,7,0\n5,8,3\n"


def demands(path: Path, replication: int = 0) -> dict[str, list[float]]:
    s = load_scenario(path)
    rows = Simulation(s, replication=replication, audit=True).run().rows
    out: dict[str, list[float]] = {}
    for r in rows:
        out.setdefault(r.node, []).append(r.demand)
    return out


def test_wide_csv_relative_to_the_scenario_file(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "d.csv").write_text(WIDE, encoding="utf-8")
    d = demands(write_scenario(tmp_path, {"file": "data/d.csv"}))
    assert d["north"] == [3, 4, 5, 6, 7, 8] and d["south"] == [1, 0, 2, 1, 0, 3]


def test_long_parquet_and_an_evaluation_set(tmp_path):
    (tmp_path / "a.csv").write_text(WIDE, encoding="utf-8")
    long = pd.DataFrame(
        {
            "period": [1, 0, 2, 3, 4, 5] * 2,
            "node": ["north"] * 6 + ["south"] * 6,
            "demand": [9, 8, 7, 6, 5, 4, 0, 1, 0, 1, 0, 1],
        }
    )
    long.to_parquet(tmp_path / "b.parquet", index=False)
    path = write_scenario(tmp_path, {"files": ["a.csv", "b.parquet"]}, replications=2)
    assert demands(path, 0)["north"] == [3, 4, 5, 6, 7, 8]
    assert demands(path, 1)["north"] == [8, 9, 7, 6, 5, 4]  # sorted by period
    assert demands(path, 1)["south"] == [1, 0, 0, 1, 0, 1]


def test_column_names_the_series(tmp_path):
    (tmp_path / "d.csv").write_text("a,b\n1,2\n1,2\n1,2\n", encoding="utf-8")
    path = write_scenario(tmp_path, {"file": "d.csv", "column": "b"}, periods=3)
    assert demands(path)["north"] == [2, 2, 2]


def test_effects_apply_to_a_series(tmp_path):
    (tmp_path / "d.csv").write_text("north,south\n" + "10,10\n" * 8, encoding="utf-8")
    path = write_scenario(tmp_path, {"file": "d.csv"}, periods=8)
    data = yaml.safe_load(path.read_text())
    data["nodes"][1]["demand_effects"] = {"shocks": [{"start": 2, "magnitude": 1.5, "duration": 2}]}
    path.write_text(yaml.safe_dump(data))
    assert demands(path)["north"] == [10, 10, 15, 15, 10, 10, 10, 10]


@pytest.mark.parametrize(
    "content, series, expected",
    [
        (None, {"file": "missing.csv"}, "nodes[1].demand_series.file: no such demand series file: "),
        (
            "period,north\n0,1\n1,1\n2,1\n3,1\n4,1\n5,1\n",
            {"file": "d.csv"},
            "nodes[2].demand_series.file: {d}: no column 'south' (columns: period, north",
        ),
        (
            "north,south\n1,1\n2,x\n3,1\n4,1\n5,1\n6,1\n",
            {"file": "d.csv"},
            "nodes[2].demand_series.file: {d}: node 'south': value 'x' at row 1 is not a finite number",
        ),
        (
            "north,south\n1,1\n2,1\n-3,1\n4,1\n5,1\n6,1\n",
            {"file": "d.csv"},
            "nodes[1].demand_series.file: {d}: node 'north': negative demand -3 at row 2",
        ),
        (
            "north,south\n1,1\n2,1\n",
            {"file": "d.csv"},
            "nodes[1].demand_series.file: {d}: node 'north' has 2 periods of demand, the scenario runs 6",
        ),
        (
            "period,node,demand\n0,north,1\n1,north,1\n",
            {"file": "d.csv"},
            "nodes[1].demand_series.file: {d}: node 'north' has 2 periods",
        ),
        (
            "period,node,demand\n" + "".join(f"{t},north,1\n" for t in range(6)),
            {"file": "d.csv"},
            "nodes[2].demand_series.file: {d}: no rows for node 'south' (nodes: north)",
        ),
        (
            "period,node,demand\n0,north,1\n2,north,1\n",
            {"file": "d.csv"},
            "nodes[1].demand_series.file: {d}: node 'north' must have periods 0, 1, 2, ... once each",
        ),
        (WIDE, {"file": "d.txt"}, "nodes[1].demand_series.file: {d}: unknown file type '.txt'"),
        (WIDE, {"files": ["d.csv"]}, "nodes[1].demand_series.files: 1 file(s) for 2 replications"),
        (
            WIDE,
            {"file": "d.csv", "files": ["d.csv"]},
            "nodes[1].demand_series: give exactly one of 'file' or 'files'",
        ),
        (
            WIDE,
            {"files": ["d.csv", "nope.csv"]},
            "nodes[1].demand_series.files[1]: no such demand series file: ",
        ),
    ],
)
def test_series_mistakes_are_clear_errors(tmp_path, content, series, expected):
    name = series.get("file") or "d.csv"
    if content is not None:
        (tmp_path / name).write_text(content, encoding="utf-8")
    path = write_scenario(tmp_path, series, replications=2 if "files" in series else 1)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    prefix = f"{path}: " + expected.format(d=(tmp_path / name).resolve())
    assert message.startswith(prefix), message
    assert "\n" not in message


def test_a_replication_beyond_the_evaluation_set_is_an_error(tmp_path):
    (tmp_path / "d.csv").write_text(WIDE, encoding="utf-8")
    s = load_scenario(write_scenario(tmp_path, {"files": ["d.csv"]}))
    with pytest.raises(ScenarioError, match=r"demand_series.files has 1 file\(s\); replication 1"):
        Simulation(s, replication=1)


def test_shipped_series_scenario_replays_its_data():
    s = load_scenario("scenarios/demand_series.yaml")
    root = Path("scenarios/data")
    wide = pd.read_csv(root / "demand_series_0.csv")
    long = pd.read_parquet(root / "demand_series_1.parquet")
    for r, north in enumerate(
        [
            wide["north"].to_numpy(),
            long[long["node"] == "north"].sort_values("period")["demand"].to_numpy(),
        ]
    ):
        rows = Simulation(s, replication=r, audit=True).run().rows
        got = np.array([x.demand for x in rows if x.node == "north"])
        assert np.array_equal(got, north[: s.periods].astype(float))
