"""Simulation-optimisation of rule parameters (twin.tune)."""

from __future__ import annotations

import copy

import pytest
import yaml

from entities.errors import ScenarioError
from twin.scenario import read_yaml, scenario_from_dict
from twin.studies.tune import evaluate, start_point, tune
from twin.tune import main

SERIAL = "scenarios/serial_3stage.yaml"
STAGES = ["stage1", "stage2", "stage3"]


def serial_with_installation_policy() -> dict:
    data = read_yaml(SERIAL)
    data["agents"] = [
        {
            "nodes": STAGES,
            "kind": "base_stock",
            "params": {"base_stock_level": {"stage1": 7, "stage2": 6, "stage3": 11}},
        }
    ]
    return data


def test_start_point_is_the_clark_scarf_optimum_on_a_serial_chain():
    scenario = scenario_from_dict(serial_with_installation_policy())
    levels = start_point(scenario, "echelon_base_stock", STAGES)["base_stock_level"]
    # Snyder & Shen Example 6.1: (6.49, 12.02, 22.71).
    assert [round(levels[n], 2) for n in STAGES] == [6.49, 12.02, 22.71]


def test_start_point_reuses_the_scenarios_own_parameters():
    scenario = scenario_from_dict(read_yaml("scenarios/hmarl_3store.yaml"))
    start = start_point(scenario, "base_stock", ["store_1", "store_2"])
    assert start == {"base_stock_level": {"store_1": 130.0, "store_2": 190.0}}


def test_tuning_never_ends_worse_than_its_start_and_uses_common_random_numbers():
    data = serial_with_installation_policy()
    data.update(periods=200, warmup_periods=20)
    # A deliberately poor start: stage 1 far too high.
    data["agents"][0]["params"]["base_stock_level"]["stage1"] = 12
    result = tune(data, "stage1", "base_stock", replications=3, budget=25)
    assert result.cost <= result.start_cost
    assert result.params["base_stock_level"]["stage1"] < 12
    # Re-evaluating the tuned point on the same replications reproduces its cost exactly (CRN).
    again, _ = evaluate(data, ["stage1"], "base_stock", result.params, [0, 1, 2], "<test>")
    assert again == pytest.approx(result.cost, abs=1e-12)


def test_cli_writes_a_loadable_tuned_scenario(tmp_path, capsys):
    data = read_yaml("scenarios/hmarl_3store.yaml")
    data.update(periods=60, warmup_periods=10, replications=2)
    src = tmp_path / "h.yaml"
    src.write_text(yaml.safe_dump(data))
    out = tmp_path / "tuned.yaml"
    code = main(
        [
            str(src),
            "--target",
            "warehouse_1",
            "--kind",
            "s_S",
            "--budget",
            "8",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    tuned = scenario_from_dict(read_yaml(out))
    kinds = {a.kind: a for a in tuned.agents}
    assert kinds["s_S"].nodes == ["warehouse_1"]
    assert set(kinds["s_S"].params) == {"s", "S"}
    assert "cost per period" in capsys.readouterr().out
    # An existing output is refused without --overwrite.
    assert (
        main(
            [
                str(src),
                "--target",
                "warehouse_1",
                "--kind",
                "s_S",
                "--budget",
                "2",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 2
    )


def test_cli_errors_are_one_line(tmp_path, capsys):
    code = main(
        [
            SERIAL,
            "--target",
            "stage9",
            "--kind",
            "base_stock",
            "--quiet",
            "--out",
            str(tmp_path / "x.yaml"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert f"{SERIAL}: --target 'stage9' is not a node or tier; did you mean 'stage" in err
    assert not (tmp_path / "x.yaml").exists()


def test_untunable_kind_is_refused():
    with pytest.raises(ScenarioError, match="cannot be tuned"):
        tune(copy.deepcopy(read_yaml(SERIAL)), "stage1", "pass_through")
