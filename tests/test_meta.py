"""Meta-learning over demand regimes (``twin.meta``, ``twin.rl.meta``) and ``twin.train --init``.

Laws tested: Reptile's outer step moves every weight of the initialisation toward the adapted
weights by the step size (its distance to them shrinks by ``1 - step``), as a function and inside
the meta-learner on a tiny chain; a fine-tune started with ``--init`` first evaluates exactly as
the initialisation does on that regime; the same seed gives the same initialisation bit for bit;
a regime with other nodes, a missing checkpoint, a checkpoint of another network or other
learning nodes are refused with one line and exit status 2; the command runs as a subprocess.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

torch = pytest.importorskip("torch")

from agents.ppo.checkpoint import load_checkpoint  # noqa: E402
from twin.meta import main as meta_main  # noqa: E402
from twin.rl.meta import MetaSpec, Reptile, reptile_step  # noqa: E402
from twin.rl.train import RunSpec  # noqa: E402
from twin.scenario import load_scenario  # noqa: E402
from twin.train import main as train_main  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

BASE = {
    "name": "meta_chain",
    "seed": 5,
    "periods": 20,
    "warmup_periods": 2,
    "replications": 2,
    "nodes": [
        {
            "id": "store",
            "kind": "store",
            "holding_cost": 1.0,
            "stockout_cost": 9.0,
            "initial_inventory": 30,
            "demand": {"dist": "poisson", "mean": 10},
        },
        {"id": "warehouse", "kind": "warehouse", "holding_cost": 0.5, "initial_inventory": 40},
        {"id": "outside", "kind": "supplier"},
    ],
    "lanes": [
        {"from": "outside", "to": "warehouse", "lead_time": 2},
        {"from": "warehouse", "to": "store", "lead_time": 1},
    ],
    "agents": [
        {
            "nodes": ["store", "warehouse"],
            "kind": "base_stock",
            "params": {"base_stock_level": {"store": 30, "warehouse": 40}},
        }
    ],
    "reward": {"weights": {"total_cost": -1.0}, "scope": "team"},
}
SPACES = [
    "--targets",
    "store,warehouse",
    "--observation",
    "hmarl",
    "--action",
    "order_up_to:low=0,high=8,scale=forecast",
]
SMALL = [
    *SPACES,
    "--eval-replications",
    "2",
    "--set",
    "num_envs=8,num_steps=10,num_minibatches=2,update_epochs=1,hidden_sizes=[16]",
    "--quiet",
]


def _scenario(path: Path, **demand) -> str:
    data = json.loads(json.dumps(BASE))
    data["nodes"][0]["demand"] = demand or data["nodes"][0]["demand"]
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return str(path)


@pytest.fixture
def regimes(tmp_path):
    return [
        _scenario(tmp_path / "base.yaml"),
        _scenario(tmp_path / "gamma.yaml", dist="gamma", shape=4.0, scale=5.0),
        _scenario(tmp_path / "high.yaml", dist="poisson", mean=30),
    ]


def _meta(tmp_path, regimes, out: str = "meta", *extra: str) -> Path:
    target = tmp_path / out
    argv = [regimes[0], "--regimes", *regimes[1:], *SMALL, "--timesteps", "480", "--out", str(target)]
    assert meta_main([*argv, "--inner-iterations", "2", *extra]) == 0
    return target


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


# -- Reptile's outer step -----------------------------------------------------------------------


def test_reptile_step_moves_each_weight_by_the_step_size():
    init = {"w": torch.tensor([[0.0, 1.0], [2.0, -3.0]]), "b": torch.tensor([5.0]), "n": torch.tensor(3)}
    adapted = {
        "w": torch.tensor([[1.0, 1.0], [0.0, 1.0]]),
        "b": torch.tensor([4.0]),
        "n": torch.tensor(7),
    }
    out = reptile_step(init, adapted, 0.25)
    torch.testing.assert_close(out["w"], torch.tensor([[0.25, 1.0], [1.5, -2.0]]))
    torch.testing.assert_close(out["b"], torch.tensor([4.75]))
    assert int(out["n"]) == 7  # not a weight: the adapted value
    assert torch.equal(reptile_step(init, adapted, 1.0)["w"], adapted["w"])
    assert torch.equal(reptile_step(init, adapted, 0.0)["w"], init["w"])
    with pytest.raises(ValueError, match="step_size"):
        reptile_step(init, adapted, 1.5)


def test_the_meta_learner_moves_its_initialisation_toward_the_adapted_weights(tmp_path, regimes):
    scenarios = [load_scenario(p) for p in regimes]
    base = RunSpec(
        scenario=scenarios[0],
        source=regimes[0],
        algo="ppo",
        targets=["store", "warehouse"],
        out=tmp_path / "unused",
        timesteps=160,
        seed=3,
        observation="hmarl",
        action="order_up_to:low=0,high=8,scale=forecast",
        reward_scope=None,
        overrides={"num_envs": 8, "num_steps": 10, "num_minibatches": 2, "update_epochs": 1},
        eval_replications=1,
        eval_every=None,
        resume=False,
        quiet=True,
    )
    meta = Reptile(MetaSpec(base, scenarios[1:], inner_iterations=2))
    try:
        before = {k: v.clone() for k, v in meta.theta.items()}
        adapted, metrics = meta.adapt(1)
        assert len(metrics) == 2 and meta.global_step == 2 * 8 * 10
        moved = [
            k for k in before if before[k].is_floating_point() and not torch.equal(before[k], adapted[k])
        ]
        assert any(k.startswith("actor") for k in moved)
        meta.outer_step(adapted, 0.3)
        for k, theta in before.items():
            if theta.is_floating_point():
                torch.testing.assert_close(meta.theta[k], theta + 0.3 * (adapted[k] - theta))
                gap = (adapted[k] - meta.theta[k]).norm()
                torch.testing.assert_close(gap, 0.7 * (adapted[k] - theta).norm())
    finally:
        meta.close()


# -- twin.meta and twin.train --init ------------------------------------------------------------


def test_fine_tuning_starts_from_the_initialisation(tmp_path, regimes):
    meta = _meta(tmp_path, regimes)
    summary = json.loads((meta / "summary.json").read_text())
    assert summary["timesteps"] == summary["meta_iterations"] * 2 * 8 * 10
    by_source = {r["source"]: r for r in summary["evaluation"]["regimes"]}
    out = tmp_path / "fine"
    argv = [
        regimes[2],
        *SMALL,
        "--timesteps",
        "80",
        "--out",
        str(out),
        "--init",
        str(meta / "policy.pt"),
    ]
    assert train_main(argv) == 0
    with (out / "metrics.csv").open(newline="") as handle:
        first = next(csv.DictReader(handle))
    assert first["iteration"] == "0"
    assert float(first["eval_cost"]) == by_source[regimes[2]]["eval_cost"]
    # ... and not what an untrained policy does there
    untrained = tmp_path / "scratch"
    assert train_main([regimes[2], *SMALL, "--timesteps", "80", "--out", str(untrained)]) == 0
    with (untrained / "metrics.csv").open(newline="") as handle:
        assert float(next(csv.DictReader(handle))["eval_cost"]) != float(first["eval_cost"])
    assert json.loads((out / "run.json").read_text())["init"] == str(meta / "policy.pt")


def test_the_same_seed_gives_the_same_initialisation(tmp_path, regimes):
    a, _ = load_checkpoint(_meta(tmp_path, regimes, "a") / "policy.pt")
    b, _ = load_checkpoint(_meta(tmp_path, regimes, "b") / "policy.pt")
    c, _ = load_checkpoint(_meta(tmp_path, regimes, "c", "--seed", "2") / "policy.pt")
    assert a["state_dict"].keys() == b["state_dict"].keys()
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    assert all(torch.equal(a["obs_rms"]["0"][k], b["obs_rms"]["0"][k]) for k in ("mean", "var"))
    assert not all(torch.equal(a["state_dict"][k], c["state_dict"][k]) for k in a["state_dict"])


def test_init_refuses_a_missing_file_another_network_and_other_nodes(tmp_path, regimes, capsys):
    meta = _meta(tmp_path, regimes)
    capsys.readouterr()
    base = [regimes[1], *SMALL, "--timesteps", "80"]
    missing = tmp_path / "nothing.pt"
    assert train_main([*base, "--out", str(tmp_path / "f1"), "--init", str(missing)]) == 2
    assert str(missing) in _one_error_line(capsys)
    wider = [*base, "--set", "hidden_sizes=[32]", "--out", str(tmp_path / "f2")]
    assert train_main([*wider, "--init", str(meta / "policy.pt")]) == 2
    line = _one_error_line(capsys)
    assert "policies[0].hidden_sizes" in line and "[16]" in line and "[32]" in line
    assert not (tmp_path / "f2").exists()  # nothing half-written
    store_only = tmp_path / "store-only"
    argv = [regimes[1], *SMALL, "--timesteps", "80", "--out", str(store_only)]
    argv[argv.index("store,warehouse")] = "store"
    assert train_main(argv) == 0
    capsys.readouterr()
    assert (
        train_main([*base, "--out", str(tmp_path / "f3"), "--init", str(store_only / "policy.pt")]) == 2
    )
    line = _one_error_line(capsys)
    assert "policies[0].nodes" in line and "'warehouse'" in line
    assert (
        train_main([*base, "--algo", "happo", "--out", str(tmp_path / "f4"), "--init", str(meta)]) == 2
    )
    assert "--init" in _one_error_line(capsys)


def test_a_regime_with_other_nodes_is_refused(tmp_path, regimes, capsys):
    data = yaml.safe_load(Path(regimes[1]).read_text())
    data["nodes"][1]["id"] = "depot"
    data["lanes"] = [
        {"from": "outside", "to": "depot", "lead_time": 2},
        {"from": "depot", "to": "store", "lead_time": 1},
    ]
    data["agents"][0] = {
        "nodes": ["store", "depot"],
        "kind": "base_stock",
        "params": {"base_stock_level": {"store": 30, "depot": 40}},
    }
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump(data), encoding="utf-8")
    out = tmp_path / "m"
    argv = [regimes[0], "--regimes", regimes[1], str(other), *SMALL, "--out", str(out)]
    assert meta_main(argv) == 2
    line = _one_error_line(capsys)
    assert str(other) in line and "nodes" in line and "depot" in line
    assert not out.exists()
    assert meta_main([*argv[:3], *SMALL, "--meta-step-size", "0", "--out", str(out)]) == 2
    assert "--meta-step-size" in _one_error_line(capsys)


def test_the_command_runs_as_a_subprocess(tmp_path, regimes):
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    out = tmp_path / "meta"
    argv = [regimes[0], "--regimes", *regimes[1:], *SMALL, "--timesteps", "160", "--out", str(out)]
    done = subprocess.run(
        [sys.executable, "-m", "twin.meta", *argv],
        env={**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert f"initialisation: {out / 'policy.pt'}" in done.stdout
    _, meta = load_checkpoint(out / "policy.pt")
    assert meta["policies"][0]["nodes"] == ["store", "warehouse"]
    assert meta["training"]["meta"]["regimes"] == regimes[1:]
