"""The PPO update is CleanRL's, however it is computed.

The laws tested: the Gaussian head's log-probability and entropy are those of
``torch.distributions.Normal``; one update of one minibatch moves every parameter as one Adam step
on CleanRL's loss (clipped surrogate, clipped value loss, entropy bonus, one backward pass, global
gradient clipping), whether the critic's half of the gradient is computed on a second thread or
not; a training run with the critic on its own thread gives the same numbers as one without; and
left to choose, the trainer keeps the thread only while timing says it pays.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from torch.distributions import Normal  # noqa: E402

from agents.ppo.network import ActorCritic  # noqa: E402
from agents.ppo.trainer import PROBE_EVERY, Args, PPOTrainer  # noqa: E402
from twin import load_scenario  # noqa: E402
from twin.rl.batched import make_batched  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SERIAL = ROOT / "scenarios" / "serial_3stage.yaml"
OPTIONS = {
    "targets": ["stage1", "stage2", "stage3"],
    "observation": "default",
    "action": "order_up_to:low=0,high=30",
}


def test_gaussian_head_is_torch_normal():
    net = ActorCritic(5, {"type": "Box", "low": [0.0, 1.0], "high": [30.0, 5.0]})
    with torch.no_grad():
        net.actor_logstd.add_(torch.tensor([[0.3, -0.2]]))
    x, action = torch.randn(9, 5), torch.rand(9, 2) * 30
    logprob, entropy = net.log_prob_entropy(x, action)
    dist = net.distribution(x)
    assert isinstance(dist, Normal)
    assert torch.equal(logprob, dist.log_prob(action).sum(1))
    assert torch.equal(entropy, dist.entropy().sum(1))


def _trainer(threaded: bool) -> PPOTrainer:
    scenario = load_scenario(SERIAL, {"periods": 30, "warmup_periods": 0})
    envs, _ = make_batched(scenario, 4, **OPTIONS)
    args = Args(
        seed=3,
        num_envs=4,
        num_steps=8,
        update_epochs=1,
        num_minibatches=1,
        anneal_lr=False,
        ent_coef=0.01,
        centralized_critic=True,
        agent_id=True,
        total_timesteps=64,
    )
    return PPOTrainer(envs, args, critic_thread=threaded)


def _cleanrl_step(trainer: PPOTrainer, b: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    """The parameters after one Adam step on CleanRL's loss over the whole batch."""
    args, g = trainer.args, trainer.groups[0]
    policy = copy.deepcopy(g.policy)
    optimizer = torch.optim.Adam(policy.parameters(), lr=args.learning_rate, eps=1e-5)
    obs = b["obs"].reshape(-1, g.obs_dim)
    dist = policy.distribution(obs)
    assert isinstance(dist, Normal)
    newlogprob = dist.log_prob(b["actions"].reshape(-1, g.width)).sum(1)
    entropy = dist.entropy().sum(1)
    newvalue = policy.get_value(b["critic_obs"].reshape(obs.shape[0], -1))
    logratio = newlogprob - b["logprobs"].reshape(-1)
    ratio = logratio.exp()
    adv = b["advantages"].reshape(-1)
    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    pg_loss = torch.max(-adv * ratio, -adv * torch.clamp(ratio, 1 - args.clip_coef, 1 + args.clip_coef))
    returns, values = b["returns"].reshape(-1), b["values"].reshape(-1)
    v_clipped = values + torch.clamp(newvalue - values, -args.clip_coef, args.clip_coef)
    v_loss = 0.5 * torch.max((newvalue - returns) ** 2, (v_clipped - returns) ** 2).mean()
    loss = pg_loss.mean() - args.ent_coef * entropy.mean() + args.vf_coef * v_loss
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(policy.parameters(), args.max_grad_norm)
    optimizer.step()
    return [p.detach() for p in policy.parameters()]


@pytest.mark.parametrize("threaded", [True, False])
def test_one_minibatch_update_is_one_adam_step_on_cleanrls_loss(threaded):
    trainer = _trainer(threaded)
    batches, _ = trainer.collect_rollout()
    b = batches[0]
    assert b is not None
    g = trainer.groups[0]
    before = [p.detach().clone() for p in g.parameters]
    expected = _cleanrl_step(trainer, b)
    trainer.update(g, b)
    for old, new, want in zip(before, g.parameters, expected, strict=True):
        assert not torch.equal(old, want)  # the step moved every parameter
        # the same loss summed in another order, and Adam's step fused: float noise only
        assert torch.allclose(new.detach(), want, rtol=1e-5, atol=1e-6)


def test_the_critics_thread_changes_no_number():
    runs = []
    for threaded in (True, False, None):  # None: timed, with and without, as it pays
        trainer = _trainer(threaded)
        trainer.args.update_epochs, trainer.args.num_minibatches = 2, 4
        metrics = [trainer.iteration() for _ in range(4)]
        params = [p.detach().clone() for p in trainer.groups[0].parameters]
        runs.append((metrics, params))
    (m1, p1) = runs[0]
    for m2, p2 in runs[1:]:
        for a, b in zip(m1, m2, strict=True):
            for key in ("value_loss", "policy_loss", "approx_kl", "clipfrac", "explained_variance"):
                assert a[key] == b[key] or (math.isnan(a[key]) and math.isnan(b[key]))
        assert all(torch.equal(x, y) for x, y in zip(p1, p2, strict=True))


def test_the_critics_thread_is_kept_where_it_pays():
    trainer = _trainer(None)
    if trainer._pool is None:
        pytest.skip("one CPU: there is no second core to measure")
    chosen = []
    for iteration in (1, 2):  # the first pair of timed updates: with the thread, then without
        trainer.iteration_count = iteration
        chosen.append(trainer._threaded())
    assert chosen == [True, False]
    for faster, (with_thread, without) in ((False, (2.0, 1.0)), (True, (1.0, 2.0))):
        trainer.iteration_count = PROBE_EVERY + 1
        trainer._timed(with_thread)
        trainer.iteration_count = PROBE_EVERY + 2
        trainer._timed(without)
        trainer.iteration_count = PROBE_EVERY + 5
        assert trainer._threaded() is faster
    assert _trainer(False)._pool is None
    asked = _trainer(True)
    for iteration in range(2 * PROBE_EVERY):  # asked for: always, whatever the timings
        asked.iteration_count = iteration
        asked._timed(9.0)
        assert asked._threaded()
