"""Every registered agent passes the conformance check; registry behaviour; rule arithmetic."""

from __future__ import annotations

import pytest

from agents import registry
from agents.base import Observation, OrderDecision
from agents.rules import (
    BaseStockPolicy,
    DaysOfCoverPolicy,
    EchelonBaseStockPolicy,
    PeriodicReviewPolicy,
    RQPolicy,
    SSPolicy,
)
from entities.errors import UnknownAgentError
from twin.engine.checks import check_agent

NODES = ("n1", "n2", "n3")

# Example parameters for every kind registered by the project; a new kind must add one.
EXAMPLE_PARAMS = {
    "base_stock": {"base_stock_level": {"n1": 50, "n2": 80, "n3": 120}},
    "echelon_base_stock": {"base_stock_level": 120},
    "s_S": {"s": 20, "S": 90},
    "r_Q": {"reorder_point": 30, "order_quantity": 25},
    "periodic_review": {"review_period": 3, "order_up_to_level": 100, "offset": 1},
    "constant": {"quantity": 7},
    "pass_through": {},
    "adaptive_base_stock": {
        "multiple": {"n1": 3, "n2": 4.5, "n3": 6},
        "window": 2,
        "position": "echelon",
        "max_order": 40,
    },
    "hmarl_warehouse": {},
    "hmarl_supplier": {"low_cover": 2, "target_cover": 4, "high_cover": 8},
    "wagner_whitin": {
        "setup_cost": 100,
        "holding_cost": {"n1": 1, "n2": 0.5, "n3": 2},
        "lead_time": 2,
        "horizon": 8,
    },
    "silver_meal": {
        "setup_cost": 100,
        "holding_cost": 1,
        "lead_time": {"n1": 0, "n2": 1, "n3": 3},
        "forecast": "exponential_smoothing",
        "alpha": 0.3,
        "safety_stock": 5,
    },
    "ga": {
        "setup_cost": 100,
        "holding_cost": 1,
        "lead_time": 1,
        "horizon": 8,
        "forecast": "mean",
        "demand_mean": {"n1": 20, "n2": 15, "n3": 0},
    },
    "dalsa": {
        "setup_cost": 100,
        "holding_cost": 1,
        "lead_time": 1,
        "stockout_cost": 10,
        "lanes": {"up->n2": {"lead_time": 2, "setup_cost": 50, "capacity": 40}},
    },
    "hybrid": {
        "proposal": {"kind": "base_stock", "params": {"base_stock_level": 60}},
        "setup_cost": 100,
        "holding_cost": 1,
        "horizon": 4,
    },
    # Learning agents without a checkpoint act with a small random network (tests/test_ppo.py
    # checks them with trained checkpoints).
    "ppo": {"observation": "default", "action": "integer:n=20"},
    "happo": {"observation": "hmarl", "action": "hmarl_multiples", "stochastic": True},
}


def test_every_registered_kind_has_an_example():
    assert set(registry.available()) <= set(EXAMPLE_PARAMS) | _plugin_kinds()


def _plugin_kinds() -> set[str]:
    return set(registry.available()) - set(registry.BUILTIN)


@pytest.mark.parametrize("kind", sorted(EXAMPLE_PARAMS))
def test_registered_agent_conforms(kind):
    agent = registry.validate(kind, EXAMPLE_PARAMS[kind], NODES)
    check_agent(agent, NODES)


def test_unknown_kind_suggests_close_names():
    with pytest.raises(UnknownAgentError, match="did you mean 's_S'"):
        registry.make("s_s")


def test_bad_params_raise_value_error_with_value():
    with pytest.raises(ValueError, match="S must be >= s, got s=50, S=10"):
        registry.make("s_S", s=50, S=10)
    with pytest.raises(TypeError, match="accepted params: s, S"):
        registry.make("s_S", s=1, S=2, z=3)
    with pytest.raises(ValueError, match="order_quantity must be > 0"):
        registry.make("r_Q", reorder_point=1, order_quantity=0)


def test_per_node_params_must_cover_the_nodes():
    with pytest.raises(ValueError, match=r"no value for node\(s\) \['n3'\]"):
        registry.validate("base_stock", {"base_stock_level": {"n1": 1, "n2": 2}}, NODES)


def test_register_plugin_lazily():
    registry.register("test_half_demand", "tests.test_agents:HalfDemand", override=True)
    agent = registry.make("test_half_demand", fraction=0.5)
    check_agent(agent, NODES)


class HalfDemand:
    """The README's example agent."""

    def __init__(self, *, fraction: float = 0.5) -> None:
        if fraction < 0:
            raise ValueError(f"fraction must be >= 0, got {fraction}")
        self.fraction = fraction

    def reset(self, *, seed: int | None = None) -> None:
        pass

    def act(self, observations):
        return {
            n: OrderDecision({o.lanes[0]: self.fraction * o.last_demand})
            for n, o in observations.items()
        }


def test_check_agent_catches_negative_orders():
    class Negative(HalfDemand):
        def act(self, observations):
            return {n: -1.0 for n in observations}

    with pytest.raises(AssertionError, match="must be >= 0"):
        check_agent(Negative())


def test_check_agent_catches_missing_nodes():
    class Forgetful(HalfDemand):
        def act(self, observations):
            return {}

    with pytest.raises(AssertionError, match="answered for"):
        check_agent(Forgetful())


def _obs(**kw) -> Observation:
    base = dict(
        node="n1",
        tier="t",
        period=0,
        on_hand=0.0,
        backorders=0.0,
        on_order=0.0,
        in_transit=0.0,
        inventory_position=0.0,
        echelon_inventory_position=0.0,
        last_demand=0.0,
        forecast=0.0,
        pipeline=(),
        lanes=("up->n1",),
    )
    base.update(kw)
    return Observation(**base)


def test_rule_arithmetic():
    # Order-up-to: S - IP; echelon version uses the echelon inventory position.
    assert BaseStockPolicy(base_stock_level=10).quantity(_obs(inventory_position=4)) == 6
    assert BaseStockPolicy(base_stock_level=10).quantity(_obs(inventory_position=12)) == 0
    assert (
        EchelonBaseStockPolicy(base_stock_level=30).quantity(
            _obs(inventory_position=4, echelon_inventory_position=25)
        )
        == 5
    )
    # (s, S): order at IP <= s (Zheng & Federgruen convention).
    assert SSPolicy(s=4, S=10).quantity(_obs(inventory_position=4)) == 6
    assert SSPolicy(s=4, S=10).quantity(_obs(inventory_position=5)) == 0
    # (r, Q): smallest multiple of Q lifting IP above r.
    assert RQPolicy(reorder_point=10, order_quantity=5).quantity(_obs(inventory_position=-3)) == 15
    assert RQPolicy(reorder_point=10, order_quantity=5).quantity(_obs(inventory_position=10)) == 5
    assert RQPolicy(reorder_point=10, order_quantity=5).quantity(_obs(inventory_position=11)) == 0
    # (R, S): only on review periods.
    p = PeriodicReviewPolicy(review_period=3, order_up_to_level=20, offset=1)
    assert [p.quantity(_obs(period=t, inventory_position=5)) for t in range(4)] == [0, 15, 0, 0]
    # Days of cover: IP / forecast against thresholds 3, 7, 14.
    r = DaysOfCoverPolicy()
    assert [r.quantity(_obs(inventory_position=ip, forecast=10)) for ip in (0, 50, 100, 200)] == [
        15.0,
        10.0,
        5.0,
        0.0,
    ]


def test_the_engine_calls_declared_hooks_and_conforms_duck_typed_agents():
    """agents.base.Agent declares every hook; an object with only reset/act gets the defaults."""
    from agents.base import Agent, conform, order
    from twin import Simulation, load_scenario

    class Duck:  # no base class, no hooks: reset and act only
        def reset(self, *, seed=None):
            self.resets = getattr(self, "resets", 0) + 1

        def act(self, observations):
            return {n: order(o, o.last_demand) for n, o in observations.items()}

    duck = Duck()
    wrapped = conform(duck)
    assert isinstance(wrapped, Agent) and wrapped.observes == "turn" and not wrapped.observes_ledger
    assert conform(wrapped) is wrapped
    scenario = load_scenario("scenarios/serial_3stage.yaml", {"periods": 5, "warmup_periods": 0})
    rows = Simulation(scenario, agents={0: duck}).run().rows
    assert duck.resets == 1 and len(rows) == 5 * len(scenario.nodes)

    class Listener(Agent):
        observes_ledger = True

        def __init__(self):
            self.periods = []

        def observe_ledger(self, rows):
            self.periods.append({r.period for r in rows})

        def act(self, observations):
            return {n: order(o, o.last_demand) for n, o in observations.items()}

    listener = Listener()
    Simulation(scenario, agents={0: listener}).run()
    assert listener.periods == [{t} for t in range(5)]
