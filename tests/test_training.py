"""Training runs on the vector twin: exact resume, seeds, devices, fallback, memory, threads, rewards.

Laws tested: a run stopped half-way and resumed gives the same checkpoints, trainer state and
metrics as the run that never stopped (PPO and HAPPO, feed-forward and recurrent, the halves
meeting mid-episode); a seed trained in the pool of ``--seeds`` gives exactly what it gives alone,
and the summary's mean and sd are those of the seeds; ``--device auto`` falls back to the CPU and
``cuda`` without CUDA is a one-line error; the torch tensors of the vector twin (the CUDA path)
train as the NumPy arrays do; a scenario the vector twin cannot express trains on the event twin
with a note; a recurrent checkpoint deployed in the event twin carries each node's memory from
period to period (costing what training's evaluation said, and something else without it); a
deployed policy runs torch on one thread; every shipped RL scenario's reward is minus its cost.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from agents.ppo.checkpoint import load_checkpoint, load_trainer_state  # noqa: E402
from twin.train import main  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HMARL = str(ROOT / "scenarios" / "hmarl_3store.yaml")
LIU = str(ROOT / "scenarios" / "liu_serial.yaml")
SERIAL = str(ROOT / "scenarios" / "serial_3stage.yaml")
LIU_OPTIONS = [
    "--targets",
    "retailer,distributor,manufacturer",
    "--observation",
    "liu",
    "--action",
    "integer:n=20",
]
STORES = ["--targets", "store", "--observation", "hmarl", "--action", "hmarl_multiples"]
SMALL = ["--periods", "40", "--eval-replications", "2", "--quiet"]


def _env(**extra: str) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, **extra}


def _tensors_equal(a, b, where: str = "") -> None:
    """Nested dicts / lists / tensors equal bit for bit."""
    if isinstance(a, dict):
        assert set(a) == set(b), where
        for k in a:
            _tensors_equal(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _tensors_equal(x, y, f"{where}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    else:
        assert a == b, where


def _metrics(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:  # wall-clock columns differ from run to run
        row.pop("seconds")
        row.pop("rollout_seconds")
    return rows


# -- resume -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "scenario, options",
    [
        (HMARL, ["--algo", "ppo", *STORES, "--set", "num_envs=8,num_steps=24,update_epochs=2"]),
        (
            LIU,
            [
                "--algo",
                "happo",
                *LIU_OPTIONS,
                "--set",
                "num_envs=8,num_steps=24,update_epochs=2,hidden_sizes=[16],recurrent=true,recurrent_size=8",
            ],
        ),
        (
            HMARL,
            [
                "--algo",
                "ppo",
                *STORES,
                "--set",
                "num_envs=8,num_steps=24,update_epochs=2,recurrent=true",
            ],
        ),
    ],
    ids=["ppo", "happo-recurrent", "ppo-recurrent"],
)
def test_a_run_stopped_half_way_and_resumed_is_the_run_that_never_stopped(tmp_path, scenario, options):
    """T = 6 iterations of 192 epochs (8 rows x 24 steps; 40-period episodes, so the halves meet
    in the middle of an episode, 16 periods in), evaluated and saved every iteration."""
    common = [scenario, *options, *SMALL, "--eval-every", "1", "--set", "total_timesteps=1152"]
    whole, halves = tmp_path / "whole", tmp_path / "halves"
    assert main([*common, "--timesteps", "1152", "--out", str(whole)]) == 0
    assert main([*common, "--timesteps", "576", "--out", str(halves)]) == 0
    assert main([*common, "--timesteps", "1152", "--out", str(halves), "--resume"]) == 0
    for name in ("policy.pt", "trainer_state.pt"):
        _tensors_equal(
            torch.load(whole / name, weights_only=True),
            torch.load(halves / name, weights_only=True),
            name,
        )
    assert _metrics(whole / "metrics.csv") == _metrics(halves / "metrics.csv")
    state = load_trainer_state(halves / "trainer_state.pt")["trainer"]
    assert state["global_step"] == 1152 and len(state["envs"]["actions"]) == 24 * 6 % 40


def test_resume_replays_the_rows_to_where_they_were(tmp_path):
    """The batched twin's state: restarting its rows' replications and replaying the actions
    since their episodes began puts every row back where it was (observations equal)."""
    from twin import load_scenario
    from twin.rl.batched import make_batched

    scenario = load_scenario(HMARL, {"periods": 30, "warmup_periods": 0})
    options = {"targets": "store", "observation": "hmarl", "action": "hmarl_multiples"}
    env, note = make_batched(scenario, 4, **options)
    assert note is None and env.kind == "vector"
    env.reset()
    rng = np.random.default_rng(0)
    for _ in range(47):  # one episode and 17 periods of the next
        step = env.step(torch.as_tensor(rng.integers(0, 4, size=(4, 3)), dtype=torch.float32))
    saved = env.state_dict()
    again, _ = make_batched(scenario, 4, **options)
    obs = again.load_state_dict(saved)
    assert torch.equal(obs, step.obs) and again.replications == env.replications == [
        10_004 + i for i in range(4)
    ]
    actions = torch.as_tensor(rng.integers(0, 4, size=(4, 3)), dtype=torch.float32)
    a, b = env.step(actions), again.step(actions)
    assert torch.equal(a.obs, b.obs) and torch.equal(a.rewards, b.rewards)


# -- seeds --------------------------------------------------------------------------------------


def test_seeds_run_in_a_pool_give_what_each_gives_alone(tmp_path, capsys):
    tiny = [
        HMARL,
        "--algo",
        "ppo",
        *STORES,
        *SMALL,
        "--timesteps",
        "256",
        "--set",
        "num_envs=4,num_steps=32",
    ]
    out = tmp_path / "seeds"
    assert main([*tiny, "--seeds", "0-1", "--workers", "2", "--out", str(out)]) == 0
    assert capsys.readouterr().out == f"policies: {out / 'seed-<k>' / 'policy.pt'} for seeds 0, 1\n"
    alone = tmp_path / "alone"
    assert main([*tiny, "--seed", "1", "--out", str(alone)]) == 0
    _tensors_equal(
        torch.load(out / "seed-1" / "policy.pt", weights_only=True),
        torch.load(alone / "policy.pt", weights_only=True),
    )
    summary = json.loads((out / "summary.json").read_text())
    costs = [
        json.loads((out / f"seed-{s}" / "summary.json").read_text())["best"]["eval_cost"] for s in (0, 1)
    ]
    assert summary["seeds"] == [0, 1]
    assert summary["best"]["eval_cost"]["values"] == costs
    assert summary["best"]["eval_cost"]["mean"] == pytest.approx(np.mean(costs), rel=1e-12)
    assert summary["best"]["eval_cost"]["sd"] == pytest.approx(np.std(costs, ddof=1), rel=1e-12)
    with (out / "seeds.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {r["seed"] for r in rows} == {"0", "1"} and (out / "seeds.png").is_file()


@pytest.mark.parametrize(
    "extra, expected",
    [
        (["--seeds", "3-1"], "--seeds '3-1': '3-1' gives no seed >= 0"),
        (["--seeds", "a"], "--seeds 'a': 'a' is not a seed"),
        (["--workers", "2"], "--workers needs --seeds"),
        (["--seeds", "0-1", "--phases", "hmarl"], "--seeds and --phases do not combine"),
        (["--device", "tpu"], "--device 'tpu': choose one of cpu, cuda, auto"),
        (["--reward-weights", "lost=-3"], "--reward-weights: 'lost' is not a reward quantity"),
        (
            ["--action", "order_up_to:low=-9,high=9,centre={store_1: 91}"],
            "order_up_to: centre has no level for node 'store_2' (given: store_1)",
        ),
        (
            ["--action", "order_up_to:centre={store_1: x}"],
            "--action 'order_up_to:centre={store_1: x}': action 'order_up_to': centre of 'store_1' "
            "must be a finite number, got 'x'",
        ),
        (
            ["--reward-weights", "lost_sales=x"],
            "--reward-weights: reward weight of 'lost_sales' must be",
        ),
    ],
)
def test_training_options_are_checked_first(tmp_path, capsys, extra, expected):
    out = tmp_path / "run"
    assert main([HMARL, *STORES, *SMALL, "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {expected}") and err.count("\n") == 1
    assert not out.exists()


# -- TensorBoard ---------------------------------------------------------------------------------


def test_tensorboard_is_asked_for_and_optional(tmp_path, capsys, monkeypatch):
    tiny = [
        HMARL,
        *STORES,
        *SMALL,
        "--timesteps",
        "128",
        "--set",
        "num_envs=4,num_steps=32",
        "--tensorboard",
    ]
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if it were not installed
    missing = tmp_path / "missing"
    assert main([*tiny, "--out", str(missing)]) == 2
    assert capsys.readouterr().err == (
        "error: --tensorboard needs the tensorboard package, an optional extra: pip install tensorboard\n"
    )
    assert not missing.exists()
    monkeypatch.delitem(sys.modules, "torch.utils.tensorboard")
    pytest.importorskip("tensorboard")
    out = tmp_path / "board"
    assert main([*tiny, "--out", str(out)]) == 0
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))


# -- devices ------------------------------------------------------------------------------------


def test_auto_falls_back_to_the_cpu_and_cuda_needs_a_gpu(tmp_path, capsys, monkeypatch):
    from twin.rl.train import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    out = tmp_path / "cuda"
    assert main([HMARL, *STORES, *SMALL, "--device", "cuda", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == "error: --device cuda: torch sees no CUDA device (use --device cpu or auto)\n"
    auto = tmp_path / "auto"
    assert (
        main(
            [
                HMARL,
                *STORES,
                *SMALL,
                "--device",
                "auto",
                "--timesteps",
                "128",
                "--set",
                "num_envs=4,num_steps=32",
                "--out",
                str(auto),
            ]
        )
        == 0
    )
    assert json.loads((auto / "run.json").read_text())["device"] == "cpu"


def test_the_torch_twin_trains_as_the_numpy_twin():
    """On a CUDA device the vector twin steps torch tensors there and the trainer never leaves the
    device; on the CPU the same code path (torch tensors) learns what the NumPy path learns."""
    from agents.ppo.trainer import Args, PPOTrainer
    from twin import load_scenario
    from twin.rl.batched import VectorBatch

    scenario = load_scenario(SERIAL, {"periods": 30, "warmup_periods": 0})
    options = {
        "targets": ["stage1", "stage2", "stage3"],
        "observation": "default",
        "action": "order_up_to:low=0,high=40,position=echelon",
    }
    losses = []
    for torch_twin in (False, True):
        env = VectorBatch(scenario, 8, options=options, torch_twin=torch_twin)
        assert (env.env.xp.name == "torch") is torch_twin
        trainer = PPOTrainer(env, Args(seed=3, num_envs=8, num_steps=16, update_epochs=2, agent_id=True))
        metrics = [trainer.iteration() for _ in range(3)]
        losses.append([m["value_loss"] for m in metrics])
        assert all(p.device == trainer.device for g in trainer.groups for p in g.policy.parameters())
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-4)


def test_a_run_trains_on_the_reward_it_is_given(tmp_path):
    """The scenario's reward, or --reward-weights / --reward-scope for one run (recorded)."""
    out = tmp_path / "shipped"
    tiny = [HMARL, *STORES, *SMALL, "--timesteps", "128", "--set", "num_envs=4,num_steps=32"]
    assert main([*tiny, "--out", str(out)]) == 0
    assert json.loads((out / "run.json").read_text())["reward"] == {
        "weights": {"total_cost": -1.0},
        "scope": "team",
        "alpha": 0.5,
    }
    other = tmp_path / "service"
    assert (
        main(
            [
                *tiny,
                "--reward-weights",
                "total_cost=-1,lost_sales=-5",
                "--reward-scope",
                "own",
                "--out",
                str(other),
            ]
        )
        == 0
    )
    reward = json.loads((other / "run.json").read_text())["reward"]
    assert reward["weights"] == {"total_cost": -1.0, "lost_sales": -5.0} and reward["scope"] == "own"


def _observation(
    node: str = "s",
    tier: str = "store",
    *,
    period: int = 3,
    echelon_inventory_position: float = 30.0,
    lane: str = "w->s",
) -> Any:
    """A node's observation: 20 on hand, 10 on order in transit (IP 30), last demand 12, forecast 10."""
    from agents.base import Observation

    return Observation(
        node=node,
        tier=tier,
        period=period,
        on_hand=20.0,
        backorders=0.0,
        on_order=10.0,
        in_transit=10.0,
        inventory_position=30.0,
        echelon_inventory_position=echelon_inventory_position,
        last_demand=12.0,
        forecast=10.0,
        pipeline=(10.0,),
        lanes=(lane,),
    )


def test_order_up_to_in_periods_of_demand_whole_and_capped():
    from agents.spaces import action_map

    obs = _observation()
    cover = action_map("order_up_to", high=8, scale="forecast")
    assert cover.decision(np.array([4.26]), obs).quantities["w->s"] == pytest.approx(
        12.6
    )  # 4.26 x 10 - 30
    last = action_map("order_up_to", high=8, scale="last_demand", integer=True)
    assert last.decision(np.array([4.26]), obs).quantities["w->s"] == 21.0  # 4.26 x 12 - 30 = 21.12
    capped = action_map("order_up_to", high=8, scale="last_demand", integer=True, max_order=20)
    assert capped.decision(np.array([4.26]), obs).quantities["w->s"] == 20.0
    assert action_map("order_up_to", high=8).decision(np.array([4.26]), obs).quantities["w->s"] == 0.0
    with pytest.raises(ValueError, match="scale must be one of units, forecast, last_demand"):
        action_map("order_up_to", scale="weeks")


def test_order_up_to_around_a_centre_per_node():
    """``centre``: the level is the node's centre plus the action (clipped to the box first)."""
    from agents.spaces import action_map

    obs = _observation()
    around = action_map("order_up_to", low=-20, high=20, centre={"s": 45, "t": 90})
    assert around.decision(np.array([0.0]), obs).quantities["w->s"] == 15.0  # 45 + 0 - 30
    assert around.decision(np.array([-7.5]), obs).quantities["w->s"] == 7.5  # 45 - 7.5 - 30
    assert around.decision(np.array([50.0]), obs).quantities["w->s"] == 35.0  # 45 + 20 - 30
    assert around.decision(np.array([-20.0]), obs).quantities["w->s"] == 0.0  # 25 < 30
    cover = action_map("order_up_to", low=-2, high=2, scale="forecast", centre=4)
    assert cover.decision(np.array([0.5]), obs).quantities["w->s"] == 15.0  # (4 + 0.5) x 10 - 30
    assert around.params["centre"] == {"s": 45.0, "t": 90.0}
    assert action_map("order_up_to", **around.params).decision(np.array([1.0]), obs).quantities == {
        "w->s": 16.0
    }
    both = action_map("order_up_to", low=-20, high=20, centre={"s": 45}, multiple={"s": 2.0})
    assert both.decision(np.array([5.0]), obs).quantities["w->s"] == 70.0  # (45 + 5) x 2 - 30
    with pytest.raises(ValueError, match="centre has no level for node 's'"):
        action_map("order_up_to", centre={"t": 90}).decision(np.array([0.0]), obs)
    with pytest.raises(ValueError, match="centre of 't' must be a finite number"):
        action_map("order_up_to", centre={"t": "x"})


def test_order_up_to_in_periods_of_customer_demand():
    """``scale: customer_demand``: the level is the action times the customers' demand of the last
    closed period (the node's history), on the echelon position; before a close, its own."""
    from agents.spaces import NodeHistory, action_map

    obs = _observation("w", "warehouse", echelon_inventory_position=50.0, lane="f->w")
    pos = action_map("order_up_to", high=20, position="echelon", scale="customer_demand", integer=True)
    assert pos.params["scale"] == "customer_demand"
    history = NodeHistory("w", obs.lanes)
    # Before the first close: 9.3 x its own last demand 12 - 50 = 61.6 -> 62.
    assert pos.decision(np.array([9.3]), obs, history).quantities["f->w"] == 62.0
    rows = [
        SimpleNamespace(node="s1", echelon=1, demand=4.0, closing_on_hand=0.0, opening_on_hand=0.0),
        SimpleNamespace(node="s2", echelon=1, demand=3.0, closing_on_hand=0.0, opening_on_hand=0.0),
        SimpleNamespace(node="w", echelon=2, demand=12.0, closing_on_hand=0.0, opening_on_hand=0.0),
    ]
    history.record_rows(rows)
    # The customers bought 4 + 3 = 7: 9.3 x 7 - 50 = 15.1 -> 15.
    assert pos.decision(np.array([9.3]), obs, history).quantities["f->w"] == 15.0
    with pytest.raises(ValueError, match="needs the node's history"):
        pos.decision(np.array([9.3]), obs)
    # The default scale and multiple stay out of saved specs (older checkpoints' specs match).
    assert "scale" not in action_map("order_up_to", high=20).params
    assert "multiple" not in action_map("order_up_to", high=20).params
    # A factor on the node's multiple (10 at w): 1.5 x 10 x 7 = 105 over echelon IP 50 -> 55;
    # 0.7 x 10 x 7 = 49 -> nothing.
    residual = action_map(
        "order_up_to", low=0.5, high=1.5, position="echelon", scale="customer_demand",
        multiple={"w": 10.0, "s": 5.0},
    )  # fmt: skip
    assert residual.params["multiple"] == {"w": 10.0, "s": 5.0}
    assert residual.decision(np.array([1.5]), obs, history).quantities["f->w"] == 55.0
    assert residual.decision(np.array([9.0]), obs, history).quantities["f->w"] == 55.0  # clipped
    assert residual.decision(np.array([0.7]), obs, history).quantities["f->w"] == 0.0
    with pytest.raises(ValueError, match="multiple has no value for node 'w'"):
        action_map("order_up_to", multiple={"s": 5.0}).decision(np.array([1.0]), obs, history)
    with pytest.raises(ValueError, match="multiple must be > 0"):
        action_map("order_up_to", multiple=0)


# -- the event twin where the vector twin cannot go -------------------------------------------


def test_a_scenario_the_vector_twin_cannot_express_trains_on_the_event_twin(tmp_path, capsys):
    import yaml

    data = yaml.safe_load(Path(HMARL).read_text())
    data["lanes"][1]["order_processing"] = 1  # warehouse_1 -> store_1: not in the vector twin
    path = tmp_path / "processing.yaml"
    path.write_text(yaml.safe_dump(data))
    out = tmp_path / "run"
    assert (
        main(
            [
                str(path),
                *STORES,
                *SMALL,
                "--timesteps",
                "128",
                "--set",
                "num_envs=2,num_steps=32",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert err.startswith("note: ") and "lanes[1].order_processing" in err
    assert "training on 2 event-twin environments instead" in err
    run = json.loads((out / "run.json").read_text())
    assert run["twin"] == "event" and "order_processing" in run["twin_note"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["deployed"]["eval_cost"] == pytest.approx(summary["best"]["eval_cost"], rel=1e-9)


# -- recurrent policies in the event twin ------------------------------------------------------


@pytest.mark.parametrize(
    "algo, extra, forgetting_shows",
    [
        ("ppo", "", True),
        ("happo", "", True),
        # the critic's memory reads every agent's observation, the actor's its own
        ("ppo", ",centralized_critic=true,agent_id=true", False),
    ],
    ids=["ppo", "happo", "ppo-centralised-critic"],
)
def test_a_recurrent_policy_carries_each_nodes_memory_in_the_event_twin(
    tmp_path, algo, extra, forgetting_shows, monkeypatch
):
    out = tmp_path / algo
    hyper = "num_envs=4,num_steps=20,update_epochs=2,recurrent=true,recurrent_size=8" + extra
    assert (
        main(
            [
                LIU,
                "--algo",
                algo,
                *LIU_OPTIONS,
                "--periods",
                "30",
                "--eval-replications",
                "2",
                "--timesteps",
                "160",
                "--set",
                hyper,
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    # Deployed as a plain twin run, the inference agent remembers what training's evaluation did.
    assert summary["deployed"]["eval_cost"] == pytest.approx(summary["best"]["eval_cost"], rel=1e-9)
    _, meta = load_checkpoint(out)
    assert all(p["recurrent_size"] == 8 for p in meta["policies"])
    if not forgetting_shows:
        return

    from agents.ppo.agent import PPOAgent
    from twin import load_scenario
    from twin.rl.train import evaluate_deployed

    scenario = load_scenario(LIU, {"periods": 30})
    nodes = ["retailer", "distributor", "manufacturer"]
    # Without the memory (forgotten before every decision), the same policy decides otherwise.
    original = PPOAgent.act

    def forgetful(self, observations):
        self._memory.clear()
        return original(self, observations)

    monkeypatch.setattr(PPOAgent, "act", forgetful)
    amnesic = evaluate_deployed(scenario, nodes, algo, out / "policy.pt", [0, 1])
    assert amnesic["eval_cost"] != pytest.approx(summary["deployed"]["eval_cost"], rel=1e-6)


# -- threads and rewards ------------------------------------------------------------------------


def test_a_deployed_policy_runs_torch_on_one_thread(tmp_path):
    script = (
        "import torch\n"
        "torch.set_num_threads(2)\n"
        "from twin import load_scenario\n"
        "from twin.engine import Simulation\n"
        "from twin.scenario.edit import assign, edit\n"
        f"s = load_scenario({HMARL!r}, {{'periods': 5, 'warmup_periods': 0}})\n"
        "s = edit(s, assign('store', 'ppo', {'untrained': True, 'observation': 'hmarl', "
        "'action': 'hmarl_multiples'}))\n"
        "Simulation(s, replication=0).run()\n"
        "print(torch.get_num_threads())\n"
    )
    env = {k: v for k, v in _env().items() if k != "OMP_NUM_THREADS"}
    one = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert one.stdout.strip() == "1"
    three = subprocess.run(
        [sys.executable, "-c", script],
        env={**env, "OMP_NUM_THREADS": "3"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert three.stdout.strip() == "3"


def test_every_shipped_rl_scenario_rewards_minus_its_cost():
    """Summed over the learning nodes, a step's rewards are minus their cost of the period (under
    any scope: team and mix only share it out), so training lowers the cost."""
    from twin.rl.registration import SHIPPED, scenario_path
    from twin.rl.vector import FIELDS
    from twin.rl.vector_env import VectorParallelEnv

    for name, options in SHIPPED.items():
        env = VectorParallelEnv(scenario_path(name), 3, **options)
        assert env.reward_weights == {"total_cost": -1.0}, name
        env.reset(seed=0)
        rng = np.random.default_rng(1)
        for _ in range(5):
            space = env.reference.action_space(env.possible_agents[0])
            if hasattr(space, "n"):
                actions = rng.integers(0, int(space.n), size=(3, len(env.possible_agents)))
            elif hasattr(space, "nvec"):
                actions = rng.integers(
                    0,
                    2,
                    size=(3, sum(len(env.reference.action_space(a).nvec) for a in env.possible_agents)),
                )
            else:
                actions = rng.uniform(0, 30, size=(3, len(env.possible_agents)))
            _, rewards, _, _, _ = env.step(actions)
            cost = env.xp.take(env.twin.flows[FIELDS.index("total_cost")], env.nodes, 1)
            np.testing.assert_allclose(rewards.sum(1), -cost.sum(1), rtol=1e-12, atol=1e-9)


def test_reward_weights_are_checked_once_not_every_step(monkeypatch):
    import twin.rl.vector_env as vector_env

    calls = []
    original = vector_env.check_weights
    monkeypatch.setattr(vector_env, "check_weights", lambda w: (calls.append(1), original(w))[1])
    env = vector_env.VectorParallelEnv(
        HMARL, 2, targets="store", observation="hmarl", action="hmarl_multiples"
    )
    env.reset(seed=0)
    for _ in range(10):
        env.step(np.ones((2, 3), dtype=int))
    assert len(calls) == 1


def test_the_scenario_hash_covers_the_demand_seen_before_the_first_period():
    from twin import load_scenario
    from twin.rl.train import scenario_hash
    from twin.scenario.edit import edit

    scenario = load_scenario(ROOT / "scenarios" / "liu_serial.yaml")
    assert scenario_hash(edit(scenario, "seed=7")) == scenario_hash(scenario)
    assert scenario_hash(edit(scenario, "initial_demand=0")) != scenario_hash(scenario)


def test_readme_shows_the_liu_benchmark_training_command():
    """The README's liu_serial training command is the one ``bench_rl.py liu`` measures."""
    import importlib.util
    import re
    import shlex
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("bench_rl", root / "benchmarks" / "bench_rl.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    text = (root / "README.md").read_text()
    found = re.search(r"^python -m twin\.train scenarios/liu_serial\.yaml(?:.*\\\n)+.*$", text, re.M)
    assert found, "no liu_serial training command in the README"
    argv = shlex.split(found.group(0).replace("\\\n", " "))[3:]
    out = argv.index("--out")
    assert argv[:out] + argv[out + 2 :] == bench.LIU_COMMAND


def test_echelon_observation_with_a_window_of_customer_demand():
    """``customer_periods`` k: the customers' demand of the last k closed periods, newest first,
    the missing ones before k closes repeating the oldest known; k = 1 is the 6-value view."""
    from agents.spaces import NodeHistory, observation_builder

    obs = _observation("w", "warehouse", period=0, echelon_inventory_position=50.0, lane="f->w")
    plain = observation_builder("echelon", scale=2)
    window = observation_builder("echelon", scale=2, customer_periods=3)
    assert plain.params == {"scale": 2.0} and window.params["customer_periods"] == 3
    assert len(window.space()["low"]) == 8
    history = NodeHistory("w", obs.lanes, window.window)
    assert window.build(obs, history).tolist() == [10, 0, 15, 25, 6, 6, 6, 6]  # own demand 12 / 2

    def close(demand: float) -> None:
        history.record_rows(
            [
                SimpleNamespace(
                    node="s", echelon=1, demand=demand, closing_on_hand=0.0, opening_on_hand=0.0
                )
            ]
        )

    close(4.0)
    assert window.build(obs, history).tolist()[5:] == [2, 2, 2]
    close(8.0)
    assert window.build(obs, history).tolist()[5:] == [4, 2, 2]
    for d in (10.0, 14.0):
        close(d)
    assert window.build(obs, history).tolist()[5:] == [7, 5, 4]
    assert plain.build(obs, history).tolist() == [10, 0, 15, 25, 6, 7]
