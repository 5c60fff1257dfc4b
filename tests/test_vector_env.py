"""The vector twin's environments: the same observations and rewards as ``parallel_env`` for the
same replication and actions, Gymnasium's vector conventions (seeding, autoreset, per-row episode
ends), the ``twin/<scenario>-v0`` IDs, and the fallback to the event twin."""

from __future__ import annotations

import warnings
from pathlib import Path

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import twin.rl  # noqa: F401 - registers the twin/<scenario>-v0 IDs
from twin import load_scenario
from twin.rl.env import TwinGymEnv, parallel_env
from twin.rl.registration import SHIPPED, make_vector_env, scenario_path
from twin.rl.vector_env import TwinVectorEnv, VectorParallelEnv
from twin.rl.vector_plan import VectorUnsupported

ROOT = Path(__file__).resolve().parents[1]


def short(name: str, periods: int):
    return load_scenario(scenario_path(name), overrides={"periods": periods, "warmup_periods": 0})


def flat_actions(envs, agents, rng):
    """One random action per event-twin env (a dict) and the same actions flattened per row."""
    per_env = []
    for env in envs:
        acts = {a: env.action_space(a).sample() for a in agents}
        per_env.append(acts)
    flat = np.stack([np.concatenate([np.ravel(acts[a]) for a in agents]) for acts in per_env])
    return per_env, flat


CASES = [
    ("liu_serial", {}),
    ("liu_net_2x3", {}),
    ("hmarl_3store", {}),
    ("serial_3stage", {}),
    ("serial_3stage", {"action": "order_up_to:low=0,high=40", "reward_scope": "team"}),
    (
        "hmarl_3store",
        {
            "targets": ["store_2", "warehouse_1"],
            "observation": "default",
            "action": "order_up_to:high=600",
        },
    ),
    ("liu_serial", {"observation": "hmarl", "action": "hmarl_multiples", "reward_scope": "team"}),
    (
        "hmarl_3store",
        {
            "targets": ["supplier_1", "store_1"],
            "observation": "liu",
            "action": "integer:n=30",
            "reward_scope": "mix",
        },
    ),
    (
        "liu_net_2x3",
        {"targets": ["retailer_1", "distributor_2"], "action": "integer:n=4,per_lane=false"},
    ),
    (
        "hmarl_3store",
        {
            "targets": ["store_1", "store_2", "warehouse_1"],
            "action": "order_up_to:high=6,scale=forecast,integer=true,max_order=150",
        },
    ),
    ("liu_serial", {"action": "order_up_to:high=8,position=echelon,scale=last_demand,max_order=20"}),
    # A rule-relative action: each store's level is its own centre plus the action.
    (
        "hmarl_3store",
        {
            "targets": "store",
            "action": "order_up_to:low=-40,high=40,centre={store_1: 91, store_2: 130, store_3: 186}",
        },
    ),
    (
        "liu_serial",
        {
            "observation": "echelon:scale=10",
            "action": "order_up_to:high=300,position=echelon,integer=true",
        },
    ),
    ("hmarl_3store", {"targets": ["store_3", "warehouse_1"], "observation": "echelon"}),
    # Levels in periods of the customers' demand (point-of-sale data), under both timings.
    (
        "liu_serial",
        {"action": "order_up_to:high=20,position=echelon,scale=customer_demand,integer=true"},
    ),
    (
        "liu_net_2x3",
        {
            "observation": "echelon:customer_periods=3",
            "action": "order_up_to:high=6,scale=customer_demand",
        },
    ),
    (  # a factor on each node's own multiple (a rule's level), the box around 1
        "liu_serial",
        {
            "observation": "echelon:scale=10",
            "action": "order_up_to:low=0.5,high=1.5,position=echelon,scale=customer_demand,"
            "integer=true,max_order=20,multiple={retailer: 5, distributor: 10, manufacturer: 15}",
        },
    ),
    (
        "hmarl_3store",
        {"targets": ["store_1", "warehouse_1"], "action": "order_up_to:high=3,scale=customer_demand"},
    ),
    # The profit reward ({profit: 1}): revenue at the retailer's price minus each node's costs.
    ("profit_serial", {"targets": ["retailer", "distributor", "factory"], "action": "integer:n=60"}),
    (
        "profit_serial",
        {"targets": ["retailer", "factory"], "action": "integer:n=60", "reward_scope": "mix"},
    ),
]


@pytest.mark.parametrize(("name", "options"), CASES)
def test_observations_and_rewards_equal_parallel_env(name, options):
    rows, seed, periods = 3, 4, 50
    opts = {**SHIPPED.get(name, {}), **options}
    scenario = short(name, periods)
    venv = VectorParallelEnv(scenario, rows, **opts)
    envs = [parallel_env(scenario, **opts) for _ in range(rows)]
    for i, env in enumerate(envs):
        for a in env.possible_agents:
            env.action_space(a).seed(10 * i + len(a))
    obs, infos = venv.reset(seed=seed)
    expected = [env.reset(seed=seed + i)[0] for i, env in enumerate(envs)]
    assert list(infos["replication"]) == [seed, seed + 1, seed + 2]
    agents = venv.possible_agents
    assert agents == envs[0].possible_agents
    assert obs.shape == (rows, len(agents), venv.observation_space.shape[0])
    rng = np.random.default_rng(1)
    steps = 0
    while True:
        for i in range(rows):
            for k, a in enumerate(agents):
                np.testing.assert_allclose(obs[i, k], expected[i][a], rtol=1e-6, atol=1e-6)
                assert venv.observation_space.contains(obs[i, k])
        if not envs[0].agents:
            break
        per_env, flat = flat_actions(envs, agents, rng)
        obs, rewards, terminated, truncated, infos = venv.step(flat)
        assert rewards.shape == (rows, len(agents))
        expected = []
        for i, env in enumerate(envs):
            o, r, term, trunc, info = env.step(per_env[i])
            expected.append(o)
            for k, a in enumerate(agents):
                assert rewards[i, k] == pytest.approx(r[a], abs=1e-9), (steps, i, a)
                assert infos["cost"][i, k] == pytest.approx(info[a]["cost"], abs=1e-9)
                assert infos["fill_rate"][i, k] == pytest.approx(info[a]["fill_rate"], abs=1e-12)
            assert truncated[i] == trunc[agents[0]] and terminated[i] == term[agents[0]]
            assert infos["period"][i] == info[agents[0]]["period"]
        steps += 1
    assert steps == periods and truncated.all()


def test_torch_environment_on_cpu_equals_numpy():
    torch = pytest.importorskip("torch")
    scenario = short("hmarl_3store", 20)
    opts = SHIPPED["hmarl_3store"]
    a = VectorParallelEnv(scenario, 4, **opts)
    b = VectorParallelEnv(scenario, 4, device="cpu", **opts)
    oa, _ = a.reset(seed=2)
    ob, _ = b.reset(seed=2)
    assert isinstance(ob, torch.Tensor) and ob.dtype == torch.float32
    rng = np.random.default_rng(0)
    for _ in range(20):
        np.testing.assert_allclose(ob.numpy(), oa, rtol=1e-6)
        actions = rng.integers(0, 4, size=(4, 3))
        oa, ra, *_ = a.step(actions)
        ob, rb, *_ = b.step(torch.as_tensor(actions))
        np.testing.assert_allclose(rb.numpy(), ra, atol=1e-9)


def test_batched_api_shapes_and_groups():
    env = VectorParallelEnv(short("liu_net_2x3", 10), 5, **SHIPPED["liu_net_2x3"])
    obs, _ = env.reset(seed=0)
    assert obs.shape == (5, 6, env.observation_space.shape[0])
    assert [g.agents for g in env.groups] == [env.possible_agents]
    assert env.action_space == gymnasium.spaces.MultiDiscrete([5, 5])
    obs, rewards, terminated, truncated, _ = env.step(np.ones((5, 6, 2), dtype=int))
    assert rewards.shape == (5, 6) and terminated.shape == truncated.shape == (5,)
    mixed = VectorParallelEnv(
        short("liu_net_2x3", 10), 2, targets=["retailer_1", "supplier_1"], action="integer:n=4"
    )
    assert [g.agents for g in mixed.groups] == [["retailer_1"], ["supplier_1"]]
    assert mixed.action_space is None
    mixed.reset(seed=0)
    mixed.step(np.array([[1, 2, 3], [0, 0, 4]]))  # flat: retailer_1's two lanes, then supplier_1
    with pytest.raises(ValueError, match=r"integers in \[0, 4\]"):
        mixed.step(np.array([[1, 2, 5], [0, 0, 4]]))


def test_gymnasium_ids_make_and_make_vec():
    for name in SHIPPED:
        single = gymnasium.make(f"twin/{name}-v0")
        assert isinstance(single.unwrapped, TwinGymEnv)
        vec = gymnasium.make_vec(f"twin/{name}-v0", num_envs=3, vectorization_mode="vector_entry_point")
        assert isinstance(vec, TwinVectorEnv)
        assert vec.single_observation_space == single.observation_space
        assert vec.single_action_space == single.action_space
        assert vec.observation_space.shape == (3, *single.observation_space.shape)
    env = gymnasium.make("twin/liu_serial-v0", targets="retailer")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env.unwrapped, skip_render_check=True)


@pytest.mark.parametrize("name", ["liu_serial", "hmarl_3store"])
def test_vector_entry_point_equals_sync_vector_env_of_the_event_twin(name):
    rows, kwargs = 3, {"num_envs": 3}
    fast = gymnasium.make_vec(f"twin/{name}-v0", vectorization_mode="vector_entry_point", **kwargs)
    slow = gymnasium.make_vec(f"twin/{name}-v0", vectorization_mode="sync", **kwargs)
    of, _ = fast.reset(seed=11)
    os_, _ = slow.reset(seed=11)
    fast.action_space.seed(5)
    for _ in range(25):
        np.testing.assert_allclose(of, os_, rtol=1e-6, atol=1e-6)
        action = fast.action_space.sample()
        of, rf, tf, uf, _ = fast.step(action)
        os_, rs, ts, us, _ = slow.step(action)
        np.testing.assert_allclose(rf, rs, atol=1e-9)
        assert (tf == ts).all() and (uf == us).all()
    assert rows == fast.num_envs


def test_seeding_is_reproducible_and_reset_continues():
    env = TwinVectorEnv(short("liu_serial", 5), 4, **SHIPPED["liu_serial"])
    first, info = env.reset(seed=7)
    again, _ = env.reset(seed=7)
    np.testing.assert_array_equal(first, again)
    assert list(info["replication"]) == [7, 8, 9, 10]
    _, info = env.reset()
    assert list(info["replication"]) == [11, 12, 13, 14]
    _, info = env.reset(seed=[3, 0, 3, 1])
    assert list(info["replication"]) == [3, 0, 3, 1]
    with pytest.raises(ValueError, match="lockstep"):
        env.reset(options={"reset_mask": np.array([True, False, True, True])})


@pytest.mark.parametrize("mode", ["next_step", "same_step"])
def test_autoreset_follows_gymnasium(mode):
    periods, rows = 4, 2
    env = TwinVectorEnv(short("liu_serial", periods), rows, autoreset_mode=mode, **SHIPPED["liu_serial"])
    assert env.metadata["autoreset_mode"].value == ("NextStep" if mode == "next_step" else "SameStep")
    obs, info = env.reset(seed=0)
    action = np.zeros((rows, 3), dtype=int)
    for t in range(periods):
        obs, reward, terminated, truncated, info = env.step(action)
        assert not terminated.any()
        assert truncated.all() == (t == periods - 1)
    fresh, _ = TwinVectorEnv(short("liu_serial", periods), rows, **SHIPPED["liu_serial"]).reset(seed=2)
    if mode == "same_step":
        np.testing.assert_array_equal(obs, fresh)  # rows 0, 1 -> replications 2, 3
        assert "final_obs" in info and info["final_obs"].shape == obs.shape
    else:
        obs, reward, terminated, truncated, info = env.step(action)  # the reset step
        np.testing.assert_array_equal(obs, fresh)
        assert not (terminated | truncated).any() and (reward == 0).all()
        assert list(info["replication"]) == [2, 3]


def test_unsupported_scenario_falls_back_to_the_event_twin(caplog):
    path = str(ROOT / "scenarios" / "continuous_review.yaml")
    with pytest.raises(VectorUnsupported):
        make_vector_env(scenario=path, num_envs=2, targets="store", fallback=False)
    scenario = load_scenario(path)
    target = next(n.id for n in scenario.nodes if n.demand is not None)
    env = make_vector_env(scenario=path, num_envs=2, targets=target)
    assert isinstance(env, gymnasium.vector.SyncVectorEnv)
    obs, _ = env.reset(seed=0)
    assert obs.shape[0] == 2
    assert "event-twin environments" in caplog.text
