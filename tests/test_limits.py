"""Hostile scenario files: duplicate keys, absurd sizes and magnitudes, unsafe names.

Each is refused while loading (before anything is built) with one short line naming the file, the
YAML path (or line) and the value, and the limit where there is one; the limits sit where the
twin stops giving trustworthy answers in reasonable time and memory (``twin/scenario/limits.py``).
The shipped scenarios, the largest included, stay within every limit (tests/test_scenarios.py).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from entities.errors import ScenarioError
from twin import Simulation
from twin.scenario import limits, load_scenario, read_yaml, scenario_from_dict
from twin.scenario.errors import MESSAGE_WIDTH, clip

REPO = Path(__file__).resolve().parents[1]
SERIAL = read_yaml(REPO / "scenarios" / "serial_3stage.yaml")
DEMAND_SERIES = read_yaml(REPO / "scenarios" / "demand_series.yaml")


def serial(**top: Any) -> dict[str, Any]:
    data = copy.deepcopy(SERIAL)
    data.update({"periods": 50, "warmup_periods": 5, "replications": 1, **top})
    return data


def refused(data: Any, source: str = "s.yaml") -> str:
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(data, source=source)
    message = str(info.value)
    assert "\n" not in message and len(message) <= MESSAGE_WIDTH, message
    assert message.startswith(f"{source}: ")
    return message


# --------------------------------------------------------------------------------------------------
# Duplicate keys.


def test_duplicate_key_names_the_file_the_line_and_the_key(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text(
        "name: dup\nperiods: 10\nnodes:\n"
        "  - {id: S, kind: supplier}\n"
        "  - id: W\n    kind: store\n    holding_cost: 1\n    stockout_cost: 2\n    holding_cost: 3\n"
    )
    with pytest.raises(ScenarioError) as info:
        read_yaml(path)
    assert str(info.value) == (
        f"{path}: line 9: key 'holding_cost' is given twice in this mapping (first at line 7)"
    )


def test_duplicate_key_in_a_flow_mapping_and_at_the_top(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("a: 1\nb: {x: 1, x: 2}\n")
    with pytest.raises(ScenarioError, match=r"line 2: key 'x' is given twice"):
        read_yaml(path)
    path.write_text("periods: 1\nname: x\nperiods: 2\n")
    with pytest.raises(ScenarioError, match=r"line 3: key 'periods' is given twice .*first at line 1"):
        read_yaml(path)


def test_merge_keys_may_still_be_overridden(tmp_path):
    path = tmp_path / "merge.yaml"
    path.write_text("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  x: 3\n")
    assert read_yaml(path) == {"base": {"x": 1, "y": 2}, "other": {"x": 3, "y": 2}}


# --------------------------------------------------------------------------------------------------
# Sizes.


def test_file_over_the_size_limit_fails_before_it_is_parsed(tmp_path):
    path = tmp_path / "big.yaml"
    values = ", ".join(["7"] * (limits.MAX_FILE_BYTES // 3 + 10))
    path.write_text(f"name: big\nperiods: 10\nvalues: [{values}]\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert message.startswith(f"{path}: file size: ") and "above the limit of 2 MiB" in message


def test_long_inline_list_is_refused_in_one_short_line(tmp_path):
    path = tmp_path / "long.yaml"
    data = serial()
    data["nodes"][0]["demand"] = {"dist": "empirical", "values": [7] * (limits.MAX_LIST_LENGTH + 1)}
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert message == (
        f"{path}: nodes[0].demand.values: a list of 100,001 items is above the limit of 100,000 "
        "(put long series in demand_series files)"
    )


def test_error_about_a_long_list_does_not_print_it_back():
    data = serial()
    data["nodes"][0]["demand"] = {"dist": "empirical", "values": ["x"] * 50_000}
    message = refused(data)
    assert "nodes[0].demand" in message and " ... " in message


def test_alias_bomb_is_refused(tmp_path):
    path = tmp_path / "bomb.yaml"
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ScenarioError, match=r"more than 1,000,000 values \(counting YAML aliases"):
        read_yaml(path)


@pytest.mark.parametrize(
    "top, expected",
    [
        ({"periods": 10**12}, "periods: 1,000,000,000,000 is above the limit of 100,000"),
        ({"replications": 10**9}, "replications: 1,000,000,000 is above the limit of 100,000"),
    ],
)
def test_horizons_and_replications_past_the_limits(top, expected):
    assert refused(serial(**top)) == f"s.yaml: {expected}"


def test_network_too_big_for_one_replications_ledger():
    data = serial(periods=100_000)
    stores = [f"x{i}" for i in range(4)]
    data["nodes"] += [{"id": x, "kind": "store", "demand": 1} for x in stores]
    data["lanes"] += [{"from": "stage1", "to": x, "lead_time": 1} for x in stores]
    data["agents"].append({"nodes": stores, "kind": "base_stock", "params": {"base_stock_level": 2}})
    assert refused(data) == (
        "s.yaml: periods: 8 stock points x 100,000 periods = 800,000 ledger entries per "
        "replication, above the limit of 750,000 (about 2 GB); shorten the horizon or split the network"
    )


# --------------------------------------------------------------------------------------------------
# Magnitudes.


@pytest.mark.parametrize(
    "edit, expected",
    [
        (
            lambda d: d["nodes"][0].update(holding_cost=1e308),
            "nodes[0].holding_cost: 1e+308 is above the limit of 1e+09 for a cost",
        ),
        (
            lambda d: d["nodes"][0].update(stockout_cost=1e12),
            "nodes[0].stockout_cost: 1e+12 is above the limit of 1e+09 for a cost",
        ),
        (
            lambda d: d["lanes"][0].update(unit_cost=1e10),
            "lanes[0].unit_cost: 1e+10 is above the limit of 1e+09 for a cost",
        ),
        (
            lambda d: d["nodes"][1].update(initial_inventory=1e17),
            "nodes[1].initial_inventory: 1e+17 is above the limit of 1e+10 for a quantity",
        ),
        (
            lambda d: d["nodes"][0].update(demand={"dist": "poisson", "mean": 1e11}),
            "nodes[0].demand.mean: 1e+11 is above the limit of 1e+10",
        ),
        (
            lambda d: d["nodes"][0].update(demand={"dist": "lognormal", "log_mean": 20, "log_sd": 5}),
            "nodes[0].demand: {dist: lognormal, log_mean: 20, log_sd: 5} draws values up to about",
        ),
        (
            lambda d: d["agents"][0]["params"]["base_stock_level"].update(stage1=1e17),
            "agents[0].params.base_stock_level.stage1: 1e+17 is above the limit of 1e+10",
        ),
        (
            lambda d: d["lanes"][0].update(lead_time=10**9),
            "lanes[0].lead_time: {dist: constant, value: 1000000000.0} reaches about 1e+09 periods, beyond the horizon (50 periods, or 100 for shorter runs)",
        ),
        (
            lambda d: d["lanes"][0].update(lead_time={"dist": "gamma", "shape": 1, "scale": 30}),
            "lanes[0].lead_time: {dist: gamma, shape: 1, scale: 30} reaches about 330 periods",
        ),
        (
            lambda d: d["nodes"][0].update(demand={"dist": "merton", "base": 10, "maximum": 1}),
            "nodes[0].demand: merton: no path with mean in (0, 1)",
        ),
    ],
    ids=[
        "cost 1e308",
        "stockout 1e12",
        "unit cost",
        "stock 1e17",
        "demand mean",
        "heavy tail",
        "agent level",
        "lead time 1e9",
        "lead time tail",
        "merton never drawable",
    ],
)
def test_absurd_magnitudes_are_refused(edit, expected):
    data = serial()
    edit(data)
    assert expected in refused(data)


def test_lead_times_beyond_the_absolute_limit():
    data = serial(periods=5000, warmup_periods=0)
    data["lanes"][0]["lead_time"] = 1500
    assert "beyond the limit of 1,000 periods" in refused(data)
    data["lanes"][0]["lead_time"] = 1000
    scenario_from_dict(data)  # at the limit: accepted


def test_short_runs_keep_the_scenarios_lead_times():
    data = serial(periods=3, warmup_periods=0)  # lead times 1, 1, 2: beyond 3 periods is fine
    Simulation(scenario_from_dict(data)).run()


def test_demand_file_values_past_the_limit(tmp_path):
    (tmp_path / "big.csv").write_text(
        "period,north,south\n" + "".join(f"{t},{1e17 if t == 10 else 9},5\n" for t in range(60))
    )
    data = copy.deepcopy(DEMAND_SERIES)
    for node in data["nodes"][1:]:
        node["demand_series"] = {"file": "big.csv"}
    message = refused(data, source=str(tmp_path / "s.yaml"))
    assert "nodes[1].demand_series.file: " in message
    assert "demand 1e+17 at period 10 is above the limit of 1e+10" in message


def test_too_many_individual_customers():
    data = serial(periods=1000, warmup_periods=0)
    data["nodes"][0].pop("demand")
    data["nodes"][0]["customers"] = {"rate": 10_000}
    assert "10,000,000 individual customers per replication, above the limit of 5,000,000" in refused(
        data
    )


def test_numbers_just_inside_the_limits_run_and_balance():
    data = serial(periods=20, warmup_periods=0)
    data["nodes"][0].update(holding_cost=1e9, stockout_cost=1e9, initial_inventory=1e10)
    data["nodes"][0]["demand"] = {"dist": "constant", "value": 1e9}
    Simulation(scenario_from_dict(data)).run()  # the audit checks every identity every period


# --------------------------------------------------------------------------------------------------
# Names, seeds and messages.


@pytest.mark.parametrize(
    "name", ["../../x", "/etc/x", "a/b", "..", ".hidden", "", "x" * 101, "a b", "é\x00"]
)
def test_names_that_are_not_a_file_name_piece(name):
    message = refused(serial(name=name))
    assert message.startswith("s.yaml: name: ")


@pytest.mark.parametrize("name", ["hmarl_3store", "retail-1000", "v1.2", "Lager_Köln"])
def test_names_that_are(name):
    assert scenario_from_dict(serial(name=name)).name == name


def test_a_seed_may_be_any_size():
    scenario_from_dict(serial(seed=10**30))


def test_clip_keeps_the_start_and_the_end():
    text = "f.yaml: nodes[0].demand: " + "x" * 10_000 + " is not a distribution"
    clipped = clip(text)
    assert len(clipped) <= MESSAGE_WIDTH
    assert clipped.startswith("f.yaml: nodes[0].demand: ") and clipped.endswith(" is not a distribution")
