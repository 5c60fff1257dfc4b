"""The hyper-parameters of PPO and HAPPO: one shared dataclass, each algorithm's published defaults.

Laws: both ``Args`` extend :class:`agents.ppo.args.TrainerArgs` and add only their own fields; PPO
keeps CleanRL's ``ppo.py`` defaults and HAPPO Liu et al.'s published configuration; both check the
shared fields the same way, and a bad ``--set`` is a one-line error with exit status 2 for either.
Also: a network without a critic says so instead of returning no value, and a HAPPO trainer's
state restores its actors.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from agents.happo.trainer import Args as HAPPOArgs  # noqa: E402
from agents.happo.trainer import HAPPOTrainer  # noqa: E402
from agents.ppo.args import TrainerArgs  # noqa: E402
from agents.ppo.network import ActorCritic  # noqa: E402
from agents.ppo.trainer import Args as PPOArgs  # noqa: E402
from agents.ppo.vec import make_vec  # noqa: E402
from twin import load_scenario  # noqa: E402
from twin.rl.env import parallel_env  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LIU = str(ROOT / "scenarios" / "liu_serial.yaml")


def _names(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def test_ppo_and_happo_share_one_dataclass_and_add_only_their_own_fields():
    shared = _names(TrainerArgs)
    assert issubclass(PPOArgs, TrainerArgs) and issubclass(HAPPOArgs, TrainerArgs)
    assert _names(PPOArgs) - shared == {"target_kl", "centralized_critic", "agent_id"}
    assert _names(HAPPOArgs) - shared == {"critic_learning_rate", "huber_delta"}
    assert {"gamma", "gae_lambda", "clip_coef", "ent_coef", "vf_coef", "max_grad_norm"} <= shared


def test_ppo_defaults_are_cleanrl_ppo():
    """CleanRL ``ppo.py`` (Huang et al. 2022): the defaults PPO keeps from it, and the batch it
    sizes for the vector twin (hundreds of rows at once, several small steps per sample)."""
    args = PPOArgs()
    assert (args.num_envs, args.num_steps, args.num_minibatches, args.update_epochs) == (256, 64, 32, 4)
    assert args.activation == "relu" and TrainerArgs().activation == "tanh"
    assert (args.gamma, args.gae_lambda, args.clip_coef) == (0.99, 0.95, 0.2)
    assert (args.ent_coef, args.vf_coef, args.max_grad_norm) == (0.01, 0.5, 0.5)
    assert args.anneal_lr and args.norm_adv and args.clip_vloss and args.target_kl is None


def test_happo_defaults_are_liu_et_al():
    """Liu et al.'s published configuration: lr 1e-4 for actors and critic, gamma 0.95, GAE lambda
    0.95, clip 0.2, 15 epochs, one minibatch, entropy 0.01, two hidden layers of 128, Huber delta
    10, 5 rollout threads x 200 steps, no learning-rate decay."""
    args = HAPPOArgs()
    assert (args.learning_rate, args.critic_learning_rate) == (1e-4, 1e-4)
    assert (args.gamma, args.gae_lambda, args.clip_coef) == (0.95, 0.95, 0.2)
    assert (args.update_epochs, args.num_minibatches, args.ent_coef) == (15, 1, 0.01)
    assert (args.hidden_sizes, args.huber_delta) == ((128, 128), 10.0)
    assert (args.num_envs, args.num_steps, args.anneal_lr) == (5, 200, False)


@pytest.mark.parametrize("cls", [PPOArgs, HAPPOArgs])
@pytest.mark.parametrize(
    "bad, name",
    [
        ({"gamma": 1.5}, "gamma"),
        ({"gae_lambda": -0.1}, "gae_lambda"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"num_envs": 0}, "num_envs"),
        ({"update_epochs": True}, "update_epochs"),
    ],
)
def test_both_check_the_shared_fields(cls, bad, name):
    with pytest.raises(ValueError, match=name):
        cls(**bad)


def test_happo_checks_its_critic_learning_rate():
    with pytest.raises(ValueError, match="critic_learning_rate must be > 0, got 0.0"):
        HAPPOArgs(critic_learning_rate=0.0)


@pytest.mark.parametrize("cls", [PPOArgs, HAPPOArgs])
def test_args_round_trip_through_their_json_form(cls):
    """``run.json`` keeps ``args.to_dict()``: the same fields give the same hyper-parameters."""
    args = cls(seed=7, hidden_sizes=(8, 4))
    data = args.to_dict()
    assert data["hidden_sizes"] == [8, 4] and set(data) == _names(cls)
    assert cls(**data) == args


def test_a_bad_set_for_happo_is_a_one_line_error(tmp_path, capsys):
    from twin.train import main

    code = main(
        [
            LIU,
            "--algo",
            "happo",
            "--targets",
            "retailer,distributor,manufacturer",
            "--observation",
            "liu",
            "--action",
            "integer:n=20",
            "--set",
            "gamma=1.5",
            "--out",
            str(tmp_path / "run"),
            "--quiet",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: --set: gamma and gae_lambda must be in [0, 1], got 1.5")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_a_network_without_a_critic_says_so():
    net = ActorCritic(3, {"type": "Discrete", "n": 2}, hidden_sizes=(4,), critic=False)
    x = torch.zeros(2, 3)
    assert net.sample(x).shape == (2, 1)
    with pytest.raises(ValueError, match="no critic"):
        net.get_value(x)
    with pytest.raises(ValueError, match="no critic"):
        net.get_action_and_value(x)
    with pytest.raises(ValueError, match="no actor"):
        ActorCritic(3, {"type": "Discrete", "n": 2}, hidden_sizes=(4,), actor=False).sample(x)


def _liu_trainer(seed: int) -> HAPPOTrainer:
    scenario = load_scenario(LIU, {"periods": 12})
    envs = make_vec(
        lambda: parallel_env(
            scenario,
            targets=["retailer", "distributor", "manufacturer"],
            observation="liu",
            action="integer:n=20",
        ),
        1,
    )
    args = HAPPOArgs(seed=seed, num_envs=1, num_steps=12, update_epochs=1, hidden_sizes=(8,))
    return HAPPOTrainer(envs, args)


def test_happo_state_restores_every_actor():
    trained = _liu_trainer(seed=1)
    trained.iteration()
    fresh = _liu_trainer(seed=2)
    x = [torch.randn(5, d) for d in fresh.obs_dims]
    assert any(
        not torch.equal(a.sample(xi, deterministic=True), b.sample(xi, deterministic=True))
        for a, b, xi in zip(trained.actors, fresh.actors, x, strict=True)
    )
    fresh.load_state_dict(trained.state_dict())
    for a, b, xi in zip(trained.actors, fresh.actors, x, strict=True):
        assert torch.equal(a.sample(xi, deterministic=True), b.sample(xi, deterministic=True))
    assert list(trained.state_dict()["actors"]) == list(fresh.state_dict()["actors"])
    assert next(iter(trained.state_dict()["actors"])).startswith("0.")
