"""The adaptive base-stock rule and the order cap every rule takes (``max_order``)."""

from __future__ import annotations

import pytest

from agents import registry
from agents.base import Observation
from agents.rules import AdaptiveBaseStockPolicy
from twin import Simulation, load_scenario
from twin.scenario.edit import edit

RULE_EXAMPLES = {
    "base_stock": {"base_stock_level": 100},
    "echelon_base_stock": {"base_stock_level": 100},
    "s_S": {"s": 50, "S": 100},
    "r_Q": {"reorder_point": 50, "order_quantity": 60},
    "periodic_review": {"review_period": 1, "order_up_to_level": 100},
    "constant": {"quantity": 60},
    "pass_through": {},
    "adaptive_base_stock": {"multiple": 10},
    "hmarl_warehouse": {},
    "hmarl_supplier": {},
}


def obs(node="n1", period=0, last_demand=0.0, ip=0.0, eip=0.0, forecast=6.0) -> Observation:
    return Observation(
        node=node,
        tier="t",
        period=period,
        on_hand=0.0,
        backorders=0.0,
        on_order=0.0,
        in_transit=0.0,
        inventory_position=ip,
        echelon_inventory_position=eip,
        last_demand=last_demand,
        forecast=forecast,
        pipeline=(),
        lanes=(f"up->{node}",),
    )


def ordered(agent, o: Observation) -> float:
    return agent.act({o.node: o})[o.node].quantities[o.lanes[0]]


def test_every_rule_kind_is_covered_here():
    rules = {k for k, entry in registry.BUILTIN.items() if entry.startswith("agents.rules:")}
    assert rules == set(RULE_EXAMPLES)


@pytest.mark.parametrize("kind", sorted(RULE_EXAMPLES))
def test_every_rule_caps_its_order_at_max_order(kind):
    """The same observation, with and without the cap: the order is min(quantity, max_order)."""
    o = obs(last_demand=60.0, ip=-20.0, eip=-20.0, forecast=40.0)
    free = ordered(registry.make(kind, **RULE_EXAMPLES[kind]), o)
    assert free > 25, "the uncapped order is under the cap: a weak test"
    capped = ordered(registry.make(kind, **RULE_EXAMPLES[kind], max_order=25), o)
    assert capped == 25
    per_node = registry.make(kind, **RULE_EXAMPLES[kind], max_order={"n1": 1e9})
    assert ordered(per_node, o) == free


def test_max_order_is_validated_and_names_its_nodes():
    with pytest.raises(ValueError, match="max_order must be >= 0.0, got -1"):
        registry.make("base_stock", base_stock_level=5, max_order=-1)
    with pytest.raises(ValueError, match=r"max_order has no value for node\(s\) \['n2'\]"):
        registry.validate("constant", {"quantity": 3, "max_order": {"n1": 4}}, ["n1", "n2"])


def test_adaptive_level_is_a_multiple_of_the_demand_last_seen():
    # Level 4 x 10 = 40 against inventory position 37: order 3 (the docstring's example).
    rule = AdaptiveBaseStockPolicy(multiple=4)
    assert ordered(rule, obs(last_demand=10, ip=37)) == 3
    assert ordered(rule, obs(period=1, last_demand=5, ip=37)) == 0  # level 20 < 37
    echelon = AdaptiveBaseStockPolicy(multiple={"n1": 2, "n2": 8}, position="echelon")
    assert ordered(echelon, obs("n2", last_demand=10, ip=0, eip=70)) == 10
    assert ordered(echelon, obs("n1", last_demand=10, ip=0, eip=70)) == 0


def test_adaptive_window_averages_the_last_epochs_once_per_period():
    rule = AdaptiveBaseStockPolicy(multiple=1, window=3)
    levels = [rule.level(obs(period=t, last_demand=d)) for t, d in enumerate([3, 6, 9, 12])]
    assert levels == [3, 4.5, 6, 9]  # means of [3], [3, 6], [3, 6, 9], [6, 9, 12]
    # A second look in the same period (continuous review) replaces that period's demand.
    assert rule.level(obs(period=3, last_demand=15)) == 10  # mean of [6, 9, 15]
    rule.reset()
    assert rule.level(obs(period=0, last_demand=7)) == 7


def test_adaptive_integer_levels_round_half_up():
    rule = AdaptiveBaseStockPolicy(multiple=1.5, integer=True)
    assert [rule.level(obs(period=t, last_demand=d)) for t, d in enumerate([3, 5, 4])] == [5, 8, 6]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"multiple": -1}, "multiple must be >= 0.0, got -1"),
        ({"multiple": 2, "window": 0}, "window must be an integer >= 1, got 0"),
        ({"multiple": 2, "position": "local"}, "position must be 'installation' or 'echelon'"),
        ({"multiple": 2, "integer": "yes"}, "integer must be true or false, got 'yes'"),
        ({"multiple": 2, "demand": "pos"}, "demand must be 'own' or 'customer', got 'pos'"),
    ],
)
def test_adaptive_params_are_validated(params, message):
    with pytest.raises(ValueError, match=message):
        registry.make("adaptive_base_stock", **params)


def test_adaptive_rule_forgets_its_demand_between_replications():
    """One agent instance run on replication 0, then 1, decides replication 1 as a fresh one."""
    base = load_scenario("scenarios/serial_3stage.yaml", overrides={"periods": 40, "warmup_periods": 0})
    spec = "adaptive_base_stock:multiple={stage1: 2, stage2: 3, stage3: 5},window=4"
    scenario = edit(base, f"agents[stage1,stage2,stage3]={spec}")
    fresh = Simulation(scenario, replication=1).run().rows
    agent = AdaptiveBaseStockPolicy(multiple={"stage1": 2, "stage2": 3, "stage3": 5}, window=4)
    Simulation(scenario, replication=0, agents={0: agent}).run()
    assert Simulation(scenario, replication=1, agents={0: agent}).run().rows == fresh
    assert any(r.ordered > 0 for r in fresh)


class _Row:
    """A ledger row with what the point-of-sale rule reads: the node's echelon and its demand."""

    def __init__(self, node: str, echelon: int, demand: float) -> None:
        self.node, self.echelon, self.demand = node, echelon, demand


def test_adaptive_rule_on_customer_demand_orders_up_to_a_multiple_of_it():
    """``demand: customer``: the level is the multiple times the customers' demand of the last
    close (summed over the customer-facing nodes), on the echelon position; before any close,
    the node's own last demand."""
    rule = AdaptiveBaseStockPolicy(multiple=15, position="echelon", demand="customer")
    assert rule.observes_ledger and not AdaptiveBaseStockPolicy(multiple=15).observes_ledger
    rule.reset()
    # Period 0, nothing closed: 15 x its own last demand 7 = 105 over echelon IP 100 -> 5.
    assert ordered(rule, obs(node="d", period=0, last_demand=7.0, eip=100.0)) == 5.0
    # The close of period 0: customers bought 5 + 3 = 8 at the two stores (echelon 1).
    rule.observe_ledger([_Row("s1", 1, 5.0), _Row("s2", 1, 3.0), _Row("d", 2, 30.0)])
    # 15 x 8 = 120 over echelon IP 100 -> 20, whatever the orders the node saw (30).
    assert ordered(rule, obs(node="d", period=1, last_demand=30.0, eip=100.0)) == 20.0
    own = AdaptiveBaseStockPolicy(multiple=15, position="echelon")
    assert ordered(own, obs(node="d", period=1, last_demand=30.0, eip=100.0)) == 350.0
    rule.reset()  # a new replication: nothing closed yet
    assert ordered(rule, obs(node="d", period=0, last_demand=7.0, eip=100.0)) == 5.0


def test_customer_demand_rule_on_liu_serial_follows_the_retailers_demand():
    """On liu_serial every level's echelon level is its multiple times the retailer's demand of the
    last period: the manufacturer orders ``min(20, max(0, k * d_{t-1} - echelon IP))``."""
    base = load_scenario("scenarios/liu_serial.yaml", overrides={"periods": 30, "replications": 1})
    spec = (
        "adaptive_base_stock:demand=customer,position=echelon,integer=true,max_order=20,"
        "multiple={retailer: 5, distributor: 10, manufacturer: 15}"
    )
    scenario = edit(base, f"agents[retailer,distributor,manufacturer]={spec}")
    rows = Simulation(scenario, replication=0).run().rows
    by = {(r.node, r.period): r for r in rows}
    checked = 0
    for t in range(1, 30):
        demand = by["retailer", t - 1].demand
        position = sum(
            by[n, t - 1].closing_on_hand + by[n, t - 1].on_order - by[n, t - 1].backorders
            for n in ("retailer", "distributor", "manufacturer")
        )
        expected = min(20.0, max(0.0, 15 * demand - position))
        assert by["manufacturer", t].ordered == expected, t
        checked += expected > 0
    assert checked > 5, "the manufacturer hardly ordered: a weak test"
