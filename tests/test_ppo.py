"""PPO and HAPPO: network shapes, checkpoints, the inference agents, the trainer CLI, HAPPO's update.

The laws tested: a checkpoint loads with ``weights_only=True`` and the inference agent rebuilds
exactly the environment's observations (the best policy run as a plain twin costs what the
environment's evaluation said, to the cent); a mismatched checkpoint is a clear ValueError; a
short seeded training run beats the untrained policy; HAPPO weights each agent's objective by the
product of the probability ratios of the agents updated before it, in a random order.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from agents.happo.agent import HAPPOAgent  # noqa: E402
from agents.happo.trainer import Args as HAPPOArgs  # noqa: E402
from agents.happo.trainer import HAPPOTrainer, happo_policy_loss  # noqa: E402
from agents.ppo.agent import PPOAgent  # noqa: E402
from agents.ppo.checkpoint import load_checkpoint  # noqa: E402
from agents.ppo.network import ActorCritic, env_action  # noqa: E402
from agents.ppo.trainer import Args, PPOTrainer  # noqa: E402
from agents.ppo.vec import make_vec  # noqa: E402
from twin import load_scenario  # noqa: E402
from twin.engine.checks import check_agent  # noqa: E402
from twin.rl.env import parallel_env  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HMARL = str(ROOT / "scenarios" / "hmarl_3store.yaml")
LIU = str(ROOT / "scenarios" / "liu_serial.yaml")
STORES = ["--targets", "store", "--observation", "hmarl", "--action", "hmarl_multiples"]
TINY = [
    "--periods",
    "40",
    "--eval-replications",
    "2",
    "--set",
    "num_steps=64",
    "--set",
    "num_envs=2",
    "--set",
    "update_epochs=4",
    "--quiet",
]


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "OMP_NUM_THREADS": "1",
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """The trainer run as a subprocess on a tiny budget (CleanRL's smoke test)."""
    out = tmp_path_factory.mktemp("train") / "stores"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "twin.train",
            HMARL,
            "--algo",
            "ppo",
            *STORES,
            "--timesteps",
            "512",
            "--out",
            str(out),
            *TINY,
        ],
        cwd=ROOT,
        env=_env(),
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return out


# -- network ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, width",
    [
        ({"type": "Discrete", "n": 4}, 1),
        ({"type": "MultiDiscrete", "nvec": [5, 3]}, 2),
        ({"type": "Box", "low": [0.0, -1.0], "high": [10.0, 1.0]}, 2),
    ],
)
def test_network_shapes(spec, width):
    net = ActorCritic(7, spec, hidden_sizes=(16, 16), critic_dim=23)
    x, state = torch.randn(5, 7), torch.randn(5, 23)
    action, logprob, entropy, value = net.get_action_and_value(x, critic_x=state)
    assert action.shape == (5, width) and logprob.shape == entropy.shape == value.shape == (5,)
    assert net.get_value(state).shape == (5,)
    _, again, _, _ = net.get_action_and_value(x, action, critic_x=state)
    assert torch.allclose(again, logprob)
    mode = net.sample(x, deterministic=True)
    for row in mode.numpy():
        a = env_action(row, spec)
        if spec["type"] == "Box":  # the Gaussian head is clipped to the box where it is applied
            assert np.all(a >= spec["low"]) and np.all(a <= spec["high"])
        elif spec["type"] == "Discrete":
            assert isinstance(a, int) and 0 <= a < 4


def test_box_actions_are_clipped():
    spec = {"type": "Box", "low": [0.0], "high": [10.0]}
    assert env_action(np.array([-3.0]), spec)[0] == 0.0
    assert env_action(np.array([12.5]), spec)[0] == 10.0


# -- checkpoints and the inference agent --------------------------------------------------------


def test_smoke_run_writes_its_outputs(trained):
    for name in (
        "policy.pt",
        "policy.json",
        "metrics.csv",
        "training_curve.png",
        "summary.json",
        "trainer_state.pt",
        "run.json",
    ):
        assert (trained / name).is_file(), name
    meta = json.loads((trained / "policy.json").read_text())
    assert meta["algo"] == "ppo" and meta["observation"]["name"] == "hmarl"
    assert meta["policies"][0]["nodes"] == ["store_1", "store_2", "store_3"]
    assert meta["scenario"]["hash"].startswith("sha256:") and meta["versions"]["torch"]


def test_checkpoint_round_trip_weights_only(trained):
    payload = torch.load(trained / "policy.pt", map_location="cpu", weights_only=True)
    agent = PPOAgent(checkpoint=str(trained / "policy.pt"))
    actor = agent.policies[0].network.state_dict()
    for name, value in actor.items():
        assert torch.equal(value, payload["state_dict"][f"0.{name}"])
    check_agent(PPOAgent(checkpoint=str(trained / "policy.pt"), strict=False))


def test_inference_agent_sees_what_the_environment_saw(trained):
    """The best policy as a plain twin run (the inference agent building its own observations)
    costs exactly what the environment's evaluation of the same policy said."""
    summary = json.loads((trained / "summary.json").read_text())
    assert summary["deployed"]["eval_cost"] == pytest.approx(summary["best"]["eval_cost"], rel=1e-12)


def test_mismatched_checkpoint_is_a_clear_error(trained, tmp_path):
    path = str(trained / "policy.pt")
    with pytest.raises(ValueError, match="trained with observation"):
        PPOAgent(checkpoint=path, observation="liu")
    with pytest.raises(ValueError, match="trained with action"):
        PPOAgent(checkpoint=path, action="integer")
    with pytest.raises(ValueError, match=r"trained for nodes .*cannot decide for \['warehouse_1'\]"):
        PPOAgent(checkpoint=path).validate_nodes(["warehouse_1"])
    with pytest.raises(ValueError, match="holds a 'ppo' policy; use kind 'ppo'"):
        HAPPOAgent(checkpoint=path)
    with pytest.raises(ValueError, match="does not exist"):
        PPOAgent(checkpoint=str(tmp_path / "missing.pt"))
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="weights_only"):
        PPOAgent(checkpoint=str(tmp_path / "bad.pt"))
    # A node whose ordering lanes differ from training.
    from agents.base import Observation

    agent = PPOAgent(checkpoint=path)
    obs = Observation(
        node="store_1",
        tier="store",
        period=0,
        on_hand=1.0,
        backorders=0.0,
        on_order=0.0,
        in_transit=0.0,
        inventory_position=1.0,
        echelon_inventory_position=1.0,
        last_demand=1.0,
        forecast=1.0,
        pipeline=(),
        lanes=("other->store_1",),
    )
    with pytest.raises(ValueError, match="was trained with lanes"):
        agent.act({"store_1": obs})


def test_twin_run_uses_a_checkpoint(trained, tmp_path):
    from twin.run import main

    out = tmp_path / "run"
    code = main(
        [
            HMARL,
            "--periods",
            "30",
            "--warmup",
            "5",
            "--replications",
            "1",
            "--quiet",
            "--out",
            str(out),
            "--agent",
            f"store=ppo:checkpoint={trained / 'policy.pt'}",
        ]
    )
    assert code == 0 and (out / "summary.json").is_file()
    bad = main(
        [
            HMARL,
            "--periods",
            "30",
            "--warmup",
            "5",
            "--replications",
            "1",
            "--quiet",
            "--out",
            str(tmp_path / "bad"),
            "--agent",
            f"warehouse_1=ppo:checkpoint={trained / 'policy.pt'}",
        ]
    )
    assert bad == 2


def test_resume_continues_and_mismatch_exits_2(trained, tmp_path, capsys):
    import shutil

    from twin.train import main

    out = tmp_path / "resumed"
    shutil.copytree(trained, out)
    assert main([HMARL, *STORES, "--timesteps", "768", "--out", str(out), "--resume", *TINY]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["timesteps"] == 768
    rows = (out / "metrics.csv").read_text().strip().splitlines()
    # 128 epochs per iteration: iterations 0 (untrained) .. 4, then 5 and 6 appended on resume
    assert [r.split(",")[0] for r in rows[1:]] == [str(i) for i in range(7)]
    capsys.readouterr()
    code = main(
        [HMARL, "--targets", "warehouse", "--timesteps", "1024", "--out", str(out), "--resume", *TINY]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and "cannot resume: targets" in err
    assert len(err.splitlines()) == 1
    assert main([HMARL, *STORES, "--out", str(out), *TINY]) == 2  # exists, no --resume
    assert main([str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "x"), *TINY]) == 2


# -- learning -----------------------------------------------------------------------------------


def test_short_seeded_training_beats_the_untrained_policy(tmp_path):
    from twin.train import main

    out = tmp_path / "learn"
    assert main([HMARL, *STORES, "--timesteps", "1536", "--out", str(out), "--seed", "3", *TINY]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["best"]["eval_cost"] < 0.8 * summary["untrained"]["eval_cost"]


def test_trainer_is_seeded():
    def run() -> list[float]:
        envs = make_vec(
            lambda: parallel_env(
                load_scenario(HMARL, {"periods": 20, "warmup_periods": 0}),
                targets="store",
                observation="hmarl",
                action="hmarl_multiples",
            ),
            1,
        )
        trainer = PPOTrainer(
            envs,
            Args(
                seed=5,
                num_envs=1,
                num_steps=32,
                update_epochs=2,
                total_timesteps=64,
                centralized_critic=True,
            ),
        )
        return [trainer.iteration()["policy_loss"] for _ in range(2)]

    assert run() == run()


# -- HAPPO --------------------------------------------------------------------------------------


def _liu_trainer(seed: int = 0) -> HAPPOTrainer:
    scenario = load_scenario(LIU, {"periods": 24})
    envs = make_vec(
        lambda: parallel_env(
            scenario,
            targets=["retailer", "distributor", "manufacturer"],
            observation="liu",
            action="integer:n=20",
        ),
        1,
    )
    return HAPPOTrainer(
        envs,
        HAPPOArgs(
            seed=seed,
            num_envs=1,
            num_steps=32,
            update_epochs=3,
            num_minibatches=2,
            hidden_sizes=(16, 16),
            learning_rate=3e-3,
        ),
    )


def test_happo_weights_each_agent_by_the_ratios_of_those_updated_before():
    trainer = _liu_trainer()
    batch, _ = trainer.collect_rollout()
    trainer.update_actors(batch)
    order = trainer.last_order
    assert sorted(order) == [0, 1, 2]
    with torch.no_grad():  # each actor changed only at its own turn: its ratio now is final
        ratios = {}
        for i in order:
            logprob, _, rows = trainer._log_prob_entropy(i, batch, None)
            ratios[i] = (logprob - batch["logprobs"][rows, i]).exp()
    expected = torch.ones(trainer.batch_size)
    for i in order:
        assert torch.allclose(trainer.last_factors[i], expected, rtol=1e-5, atol=1e-6)
        expected = expected * ratios[i]
    assert not torch.allclose(trainer.last_factors[order[2]], torch.ones(trainer.batch_size))
    orders = set()
    for _ in range(8):
        trainer.update_actors(batch)
        orders.add(tuple(trainer.last_order))
    assert len(orders) > 1  # a random order each iteration


def test_happo_surrogate():
    ratio = torch.tensor([0.5, 1.0, 1.5, 1.5])
    factor = torch.tensor([1.0, 2.0, 1.0, 0.5])
    adv = torch.tensor([1.0, 1.0, 1.0, -1.0])
    # min(r M A, clip(r) M A): 0.8, 2.0, 1.2, -0.75 (clip 0.2)
    expected = -torch.tensor([0.5, 2.0, 1.2, -0.75]).mean()
    assert torch.isclose(happo_policy_loss(ratio, factor, adv, 0.2), expected)


def test_happo_checkpoint_decides_in_the_twin(tmp_path):
    """HAPPO through the CLI on Liu's serial chain (liu timing); its checkpoint as a twin run
    costs what the environment's evaluation said."""
    from twin.train import main

    out = tmp_path / "happo"
    assert (
        main(
            [
                LIU,
                "--algo",
                "happo",
                "--observation",
                "liu",
                "--action",
                "integer:n=20",
                "--targets",
                "retailer,distributor,manufacturer",
                "--timesteps",
                "128",
                "--periods",
                "32",
                "--eval-replications",
                "2",
                "--set",
                "num_steps=32",
                "--set",
                "num_envs=2",
                "--set",
                "update_epochs=2",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["deployed"]["eval_cost"] == pytest.approx(summary["best"]["eval_cost"], rel=1e-12)
    _, meta = load_checkpoint(out / "policy.pt")
    assert meta["algo"] == "happo" and [p["nodes"] for p in meta["policies"]] == [
        ["retailer"],
        ["distributor"],
        ["manufacturer"],
    ]


def test_phases_freeze_earlier_policies_and_fine_tune_jointly(tmp_path):
    from twin.train import main

    out = tmp_path / "phased"
    assert (
        main(
            [
                HMARL,
                "--phases",
                "store;warehouse;joint",
                "--observation",
                "hmarl",
                "--action",
                "hmarl_multiples",
                "--timesteps",
                "128",
                "--out",
                str(out),
                *TINY,
            ]
        )
        == 0
    )
    assert [p.name for p in sorted(out.glob("phase*"))] == [
        "phase1-store",
        "phase2-warehouse",
        "phase3-joint",
    ]
    run2 = json.loads((out / "phase2-warehouse" / "run.json").read_text())
    assert run2["groups"] == {"store": ["store_1", "store_2", "store_3"], "warehouse": ["warehouse_1"]}
    assert run2["frozen"] == ["store"] and run2["twin"] == "vector"
    # Phase 2 trained the warehouse only: the stores act with phase 1's policy, unchanged.
    first, _ = load_checkpoint(out / "phase1-store" / "policy.pt")
    second, _ = load_checkpoint(out / "phase2-warehouse" / "policy.pt")
    for name, value in first["state_dict"].items():
        assert torch.equal(second["state_dict"][name], value), name
    _, meta = load_checkpoint(out / "policy.pt")
    assert [p["nodes"] for p in meta["policies"]] == [["store_1", "store_2", "store_3"], ["warehouse_1"]]
    joint = json.loads((out / "phase3-joint" / "run.json").read_text())
    assert joint["args"]["learning_rate"] == pytest.approx(3e-4 / 3)
    agent = PPOAgent(checkpoint=str(out / "policy.pt"))
    agent.validate_nodes(["store_2", "warehouse_1"])
