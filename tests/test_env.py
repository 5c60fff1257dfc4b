"""The RL environments (twin.rl.env): API conformance, rewards from ledger rows, seeding, CRN."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from pettingzoo.test import parallel_api_test

from agents.base import Agent
from agents.spaces import (
    Featurizer,
    action_map,
    available_actions,
    available_observations,
    observation_builder,
)
from entities.errors import ScenarioError
from reconciliation.rewards import reward_from_rows
from twin import load_scenario
from twin.rl.env import gym_env, parallel_env

ROOT = Path(__file__).resolve().parents[1]
LIU_LEVELS = ["retailer", "distributor", "manufacturer"]


def liu(periods=40):
    return load_scenario("scenarios/liu_serial.yaml", overrides={"periods": periods})


def hmarl(periods=30):
    return load_scenario(
        "scenarios/hmarl_3store.yaml", overrides={"periods": periods, "warmup_periods": 0}
    )


def quiet_check_env(env):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # advice on unbounded boxes and render modes
        check_env(env, skip_render_check=True)


# -- conformance ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: parallel_env(liu(), targets=LIU_LEVELS),
        lambda: parallel_env(hmarl(), targets="store", observation="hmarl", action="hmarl_multiples"),
        lambda: parallel_env(
            hmarl(),
            targets=["store_2", "warehouse_1"],
            observation="default",
            action="order_up_to:high=600",
            reward_scope="team",
        ),
        lambda: parallel_env(
            "scenarios/liu_net_2x3.yaml", targets=["retailer", "distributor"], action="integer:n=4"
        ),
    ],
)
def test_parallel_api_test_passes(make):
    env = make()
    parallel_api_test(env, num_cycles=300)
    obs, _ = env.reset(seed=1)
    assert env.state().shape == env.state_space.shape
    assert env.state_space.contains(env.state())


@pytest.mark.parametrize(
    "make",
    [
        lambda: gym_env(liu(), targets="retailer"),
        lambda: gym_env(liu(), targets=LIU_LEVELS),  # MultiDiscrete
        lambda: gym_env(hmarl(), targets="store_1", observation="hmarl", action="hmarl_multiples"),
        lambda: gym_env(
            hmarl(), targets="store", observation="hmarl", action="order_up_to:high=400"
        ),  # Box, flattened
        lambda: gym_env("scenarios/liu_net_2x3.yaml", targets="retailer_1", action="integer:n=4"),
    ],
)
def test_gymnasium_check_env_passes(make):
    quiet_check_env(make())


def test_import_twin_env_does_not_import_torch():
    code = (
        "import sys, twin.rl.env, agents.spaces\n"
        "e = twin.rl.env.parallel_env('scenarios/liu_serial.yaml', targets='retailer')\n"
        "e.reset(seed=0); e.step({'retailer': 3})\n"
        "bad = [m for m in sys.modules if m == 'torch' or m.startswith('torch.')]\n"
        "assert not bad, bad[:3]\nprint('ok')"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


# -- rewards are the ledger's -------------------------------------------------------------------------


@pytest.mark.parametrize("scope", ["own", "team", "mix"])
def test_rewards_equal_reward_from_rows_of_the_steps_ledger_rows(scope):
    env = parallel_env(
        hmarl(), targets="store", observation="hmarl", action="hmarl_multiples", reward_scope=scope
    )
    weights = hmarl().reward.weights
    alpha = hmarl().reward.alpha
    rng = np.random.default_rng(0)
    obs, infos = env.reset(seed=2)
    steps = 0
    while env.agents:
        actions = {a: int(rng.integers(0, 4)) for a in env.agents}
        before = len(env.sim.rows)
        obs, rewards, terms, truncs, infos = env.step(actions)
        rows = env.sim.rows[before:]
        period = {r.period for r in rows}
        assert len(period) == 1 and infos["store_1"]["period"] == period.pop() == steps
        own = {a: reward_from_rows([r for r in rows if r.node == a], weights) for a in actions}
        team = math.fsum(own.values()) / len(own)
        for a in actions:
            want = {"own": own[a], "team": team, "mix": alpha * own[a] + (1 - alpha) * team}[scope]
            assert rewards[a] == pytest.approx(want, abs=1e-12)
            row = next(r for r in rows if r.node == a)
            assert infos[a]["cost"] == row.total_cost and infos[a]["ledger"] == row._asdict()
        steps += 1
    assert steps == 30 and all(truncs.values()) and not any(terms.values())


def test_liu_reward_is_the_mixed_negative_cost_and_gym_sums_the_nodes():
    # Liu et al.'s training reward: scope mix, the scenario's alpha 0.5, -total_cost
    par = parallel_env(liu(), targets=LIU_LEVELS, reward_scope="mix")
    gym = gym_env(liu(), targets=LIU_LEVELS, reward_scope="mix")
    par.reset(seed=4)
    gym.reset(seed=4)
    for t in range(10):
        action = [t % 21, (3 * t) % 21, 10]
        _, rewards, *_ = par.step(dict(zip(LIU_LEVELS, action, strict=True)))
        _, reward, _, _, info = gym.step(np.array(action))
        costs = [info["nodes"][n]["cost"] for n in LIU_LEVELS]
        mean = sum(costs) / 3
        for n, c in zip(LIU_LEVELS, costs, strict=True):
            assert rewards[n] == pytest.approx(-(0.5 * c + 0.5 * mean))
        assert reward == pytest.approx(-sum(costs))


# -- seeding ---------------------------------------------------------------------------------------------


def rollout(env, seed, policy):
    obs, _ = env.reset(seed=seed)
    trace = [obs]
    done = False
    while not done:
        obs, reward, terminated, truncated, info = env.step(policy(obs, info=None))
        trace.append((obs, reward, info["nodes"]))
        done = terminated or truncated
    return trace


def test_reset_with_a_seed_is_deterministic_and_without_one_moves_on():
    env = gym_env(hmarl(), targets="store_1", observation="hmarl", action="hmarl_multiples")
    a = rollout(env, 11, lambda obs, info: 2)
    b = rollout(
        gym_env(hmarl(), targets="store_1", observation="hmarl", action="hmarl_multiples"),
        11,
        lambda obs, info: 2,
    )
    assert len(a) == len(b) == 31
    assert np.array_equal(a[0], b[0])
    for x, y in zip(a[1:], b[1:], strict=True):
        assert np.array_equal(x[0], y[0]) and x[1] == y[1] and x[2] == y[2]
    _, info = env.reset()
    assert info["replication"] == 12
    _, info = env.reset()
    assert info["replication"] == 13
    _, info = parallel_env(liu(), targets="retailer").reset()
    assert info["retailer"]["replication"] == 0


def test_same_seed_different_actions_same_demand():
    """Common random numbers: the seed fixes demand and lead times, whatever the policy does."""

    def demand_and_cost(action):
        env = parallel_env(hmarl(), targets="store", observation="hmarl", action="hmarl_multiples")
        env.reset(seed=5)
        demand, cost = [], 0.0
        while env.agents:
            _, _, _, _, infos = env.step(dict.fromkeys(env.agents, action))
            demand.append([infos[a]["ledger"]["demand"] for a in sorted(infos)])
            cost += sum(infos[a]["cost"] for a in infos)
        return demand, cost

    d0, c0 = demand_and_cost(0)
    d3, c3 = demand_and_cost(3)
    assert d0 == d3 and c0 != c3


# -- targets, observations, actions -------------------------------------------------------------------


def test_default_targets_need_a_learning_agent_and_the_error_names_the_fix():
    with pytest.raises(ScenarioError, match=r"targets=.*kind: ppo"):
        parallel_env(hmarl())
    with pytest.raises(ScenarioError, match="is not a node or a tier; did you mean 'store_"):
        parallel_env(hmarl(), targets="store_9")


def test_a_target_sharing_an_agent_entry_is_split_off_and_the_others_keep_their_rule():
    env = parallel_env(hmarl(), targets="store_2", observation="hmarl", action="hmarl_multiples")
    assert env.possible_agents == ["store_2"]
    kept = [a for a in env.scenario.agents if a.kind == "base_stock"]
    assert len(kept) == 1 and kept[0].nodes == ["store_1", "store_3"]
    assert kept[0].params["base_stock_level"] == {"store_1": 130, "store_3": 250}
    env.reset(seed=0)
    while env.agents:
        env.step({"store_2": 0})
    rows = [r for r in env.sim.rows if r.node == "store_2"]
    assert (
        sum(r.ordered for r in rows) == 0
        and sum(r.ordered for r in env.sim.rows if r.node == "store_1") > 0
    )


def test_liu_observation_at_reset_is_the_initial_state():
    env = parallel_env(liu(), targets=LIU_LEVELS)
    obs, infos = env.reset(seed=0)
    for n in LIU_LEVELS:
        # Their reset observation: on-hand 10, backlog 0, last demand 10 (initial_demand), pipeline.
        assert obs[n].tolist() == [10, 0, 10, 10, 10, 10, 10] and infos[n]["period"] == 0
    assert env.spec()["observation"] == {"name": "liu", "params": {"pipeline_length": 4, "scale": 1.0}}


def test_integer_actions_order_on_every_lane_of_a_multi_sourced_node():
    env = parallel_env("scenarios/liu_net_2x3.yaml", targets="retailer", action="integer:n=4")
    assert str(env.action_space("retailer_1")) == "MultiDiscrete([5 5])"
    env.reset(seed=0)
    _, _, _, _, infos = env.step({"retailer_1": np.array([3, 1]), "retailer_2": np.array([0, 4])})
    r1, r2 = infos["retailer_1"]["ledger"], infos["retailer_2"]["ledger"]
    assert (r1["ordered"], r2["ordered"]) == (4, 4)
    assert r1["ordering_cost"] == pytest.approx(3 * 0.1 + 1 * 0.2)
    assert r2["ordering_cost"] == pytest.approx(4 * 0.2)
    with pytest.raises(ValueError, match=r"integer in \[0, 4\]"):
        env.step({"retailer_1": np.array([5, 0]), "retailer_2": np.array([0, 0])})


def test_action_maps_and_builders_make_what_they_declare():
    from agents.base import Observation

    obs = Observation("S", "store", 3, 12.0, 0.0, 8.0, 8.0, 20.0, 20.0, 9.0, 10.0, (0.0, 8.0), ("W->S",))
    assert action_map("hmarl_multiples").decision(3, obs).quantities == {"W->S": 15.0}
    assert action_map("integer", n=20).decision(np.int64(7), obs).quantities == {"W->S": 7.0}
    up_to = action_map("order_up_to", high=50.0)
    assert up_to.decision(np.array([35.0]), obs).quantities == {"W->S": 15.0}
    assert up_to.decision(np.array([99.0]), obs).quantities == {"W->S": 30.0}  # clipped
    assert up_to.decision(np.array([5.0]), obs).quantities == {"W->S": 0.0}
    for name in available_observations():
        builder = observation_builder(name)
        if name == "liu":
            builder = observation_builder(name, pipeline_length=4)
        space = builder.space()
        vec = Featurizer(builder)(obs)
        assert vec.dtype == np.float32 and vec.shape == (len(space["low"]),)
        assert np.all(vec >= np.float32(space["low"])) and np.all(vec <= np.float32(space["high"]))
    assert set(available_actions()) >= {"hmarl_multiples", "integer", "order_up_to"}
    with pytest.raises(ValueError, match="did you mean 'hmarl'"):
        observation_builder("hmarll")
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        action_map("integer", n=0)


def test_hmarl_observation_reads_the_ledger_of_closed_periods():
    env = parallel_env(hmarl(), targets="store_1", observation="hmarl", action="hmarl_multiples")
    obs, _ = env.reset(seed=3)
    assert obs["store_1"][4:].tolist() == [0.0, 1.0, 1.0]  # no period closed yet
    for _ in range(16):  # 500 units, Poisson(40) demand
        obs, _, _, _, infos = env.step({"store_1": 0})  # never orders: runs out
    rows = [r for r in env.sim.rows if r.node == "store_1"]
    last, recent = rows[-1], rows[-7:]
    stockout, ratio, service = obs["store_1"][4:].tolist()
    assert stockout == float(last.filled_on_time < last.demand) == 1.0
    assert service == pytest.approx(
        sum(r.filled_on_time for r in recent) / sum(r.demand for r in recent)
    )
    warehouse = [r for r in env.sim.rows if r.node == "warehouse_1"]
    assert ratio == pytest.approx(warehouse[-1].closing_on_hand / 1500, rel=1e-6)


# -- a single-agent library trains on the Gymnasium view ---------------------------------------------


def test_stable_baselines3_ppo_trains_on_the_gymnasium_view():
    sb3 = pytest.importorskip("stable_baselines3", reason="stable-baselines3 is a test extra")
    import torch

    torch.set_num_threads(1)
    env = gym_env(liu(periods=50), targets="retailer")
    model = sb3.PPO(
        "MlpPolicy", env, n_steps=128, batch_size=64, n_epochs=2, seed=0, device="cpu", verbose=0
    )
    model.learn(total_timesteps=384)
    obs, _ = env.reset(seed=0)
    action, _ = model.predict(obs, deterministic=True)
    assert env.action_space.contains(int(action))


class FeaturizedAgent(Agent):
    """An inference-style agent: the env's observation builder and action map, run in the twin."""

    observes_ledger = True  # the twin hands it each period's ledger rows (agents.base.Agent)

    def __init__(self, builder, amap, policy):
        self.featurizer, self.amap, self.policy = Featurizer(builder), amap, policy
        self.vectors = []

    def reset(self, *, seed=None):
        self.featurizer.reset()

    def observe_ledger(self, rows):  # the twin calls this after each period close
        self.featurizer.record_rows(rows)

    def act(self, observations):
        out = {}
        for node, obs in observations.items():
            vec = self.featurizer(obs)
            self.vectors.append((node, vec))
            out[node] = self.amap.decision(self.policy(vec), obs)
        return out


@pytest.mark.parametrize("scenario", ["hmarl", "liu"])
def test_an_agent_inside_the_twin_sees_what_the_env_showed(scenario):
    """Train/run consistency: observation vectors (ledger features included) and the run agree."""
    from twin.engine.simulation import Simulation

    if scenario == "hmarl":
        sc, targets, options = hmarl(), "store", {"observation": "hmarl", "action": "hmarl_multiples"}
        policy = lambda v: int(v[3] < 5) + 2 * int(v[6] < 0.99)  # noqa: E731 - cover, service
    else:
        sc, targets, options = liu(), LIU_LEVELS, {}
        policy = lambda v: int(max(0, min(20, 40 - v[0] + v[1] - sum(v[3:]))))  # noqa: E731
    env = parallel_env(sc, targets=targets, **options)
    obs, _ = env.reset(seed=6)
    shown = []
    while env.agents:
        shown += [(a, obs[a]) for a in env.agents]
        obs, *_ = env.step({a: policy(obs[a]) for a in env.agents})
    agent = FeaturizedAgent(env.observation_builder, env.action_map, policy)
    (index,) = env._external
    result = Simulation(env.scenario, replication=6, agents={index: agent}).run()
    assert result.rows == env.sim.rows
    assert len(agent.vectors) == len(shown) == sc.periods * len(env.possible_agents)
    assert [a for a, _ in agent.vectors] == [a for a, _ in shown]
    for (_, u), (_, v) in zip(agent.vectors, shown, strict=True):
        assert np.array_equal(u, v)
