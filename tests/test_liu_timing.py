"""``timing: liu``: the twin reproduces Liu et al.'s serial period exactly.

The reference is a plain-Python recursion of their environment (``envs/serial.py`` of their code,
written from its rules, not from the twin): every level chooses its order from its observation at
the end of the last period (on-hand, backlog, the demand it last saw, its pipeline; at the reset
the last demand seen is their initial order, 10); then, from the retailer up, incoming demand plus
backlog is served from on-hand plus this period's arrival and the rest is backlogged; the level
above ships ``min(its demand + backlog, its on-hand + its arrival)``, computed before that level is
updated, arriving ``L`` periods later; the top level is supplied in full; cost ``H * on-hand + B *
backlog`` per level. Orders are whole units in their action space ``0 .. 20``.

The rule baselines are written here again on their state (never through the twin's agents): the
inventory position of level ``i`` is on-hand + pipeline + what the level above owes it - backlog,
the echelon position the sum of those of ``i`` and the levels below.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml

from agents.base import OrderDecision
from entities.distributions import Merton, from_spec
from entities.errors import ScenarioError
from twin import load_scenario, scenario_from_dict
from twin.engine.simulation import ExternalAgent, Simulation

LEVELS = ["retailer", "distributor", "manufacturer"]
UPSTREAM = {"retailer": "distributor", "distributor": "manufacturer", "manufacturer": "outside"}


def liu_serial_recursion(
    demand, policy, *, lead_time=4, on_hand=10, pipeline=10, h=1, b=1, initial_demand=10
):
    """Their episode, per level: one dict per period of lists (index 0 = retailer).

    ``policy(t, observations)`` returns the orders of the levels in period ``t`` (or pass a list
    of per-period orders); an observation is ``{on_hand, backlog, last_demand, pipeline,
    owed}`` (``pipeline[0]`` arrives this period; ``owed``: the backlog of the level above
    towards this one, 0 at the top).
    """
    if not callable(policy):
        given = policy
        policy = lambda t, obs: given[t]  # noqa: E731
    n = 3
    inventory = [on_hand] * n
    backlog = [0] * n
    pipe = [[pipeline] * lead_time for _ in range(n)]  # pipe[i][0] arrives this period
    seen = [initial_demand] * n  # their reset observation: the last demand is their initial order
    out = []
    for t, d in enumerate(demand):
        observations = [
            {
                "on_hand": inventory[i],
                "backlog": backlog[i],
                "last_demand": seen[i],
                "pipeline": list(pipe[i]),
                "owed": backlog[i + 1] if i + 1 < n else 0,
            }
            for i in range(n)
        ]
        a = list(policy(t, observations))
        incoming = [d] + list(a[:-1])  # customer demand, then the order of the level below
        owed = [incoming[i] + backlog[i] for i in range(n)]
        arrival = [pipe[i][0] for i in range(n)]
        # What each level receives in L periods, computed before the level above is updated.
        shipped_to = [min(owed[i + 1], inventory[i + 1] + arrival[i + 1]) for i in range(n - 1)]
        shipped_to.append(a[-1])  # the top level is supplied in full
        for i in range(n):
            unmet = owed[i] - inventory[i] - arrival[i]
            inventory[i] = max(-unmet, 0)
            backlog[i] = max(unmet, 0)
            pipe[i] = pipe[i][1:] + [shipped_to[i]]
        seen = incoming
        out.append(
            {
                "observations": observations,
                "on_hand": list(inventory),
                "backlog": list(backlog),
                "orders": list(a),
                "received": arrival,
                "shipped_to": shipped_to,
                "cost": [h * inventory[i] + b * backlog[i] for i in range(n)],
            }
        )
    return out


def position(o):
    """Inventory position on their state: on-hand + pipeline + owed by the level above - backlog."""
    return o["on_hand"] + sum(o["pipeline"]) + o["owed"] - o["backlog"]


def reference_rule(kind, params, max_order=20):
    """A baseline as a policy of the recursion: whole orders, at most ``max_order``."""

    def decide(t, observations):
        orders = []
        for i, o in enumerate(observations):
            if kind == "constant":
                q = params["quantity"]
            elif kind == "pass_through":
                q = o["last_demand"]
            elif kind == "base_stock":
                q = params["base_stock_level"][i] - position(o)
            elif kind == "echelon_base_stock":
                q = params["base_stock_level"][i] - sum(position(x) for x in observations[: i + 1])
            elif kind == "adaptive_base_stock":  # window 1, level rounded half up
                q = math.floor(params["multiple"][i] * o["last_demand"] + 0.5) - position(o)
            else:
                raise AssertionError(kind)
            orders.append(min(max(q, 0), max_order))
        return orders

    return decide


def serial(demand=None, periods=200):
    data = yaml.safe_load(open("scenarios/liu_serial.yaml", encoding="utf-8"))
    data["periods"] = periods
    if demand is not None:
        data["nodes"][0]["demand"] = demand
    return scenario_from_dict(data)


def drive(scenario, replication, rng, high=20):
    """Step the twin with random integer orders 0..high; return (demand, actions, rows)."""
    sim = Simulation(scenario, replication=replication, agents={0: ExternalAgent()})
    demand = sim.network.demands[0].quantities.tolist()
    actions = []
    observations = sim.start()
    while observations is not None:
        a = [int(x) for x in rng.integers(0, high + 1, size=len(LEVELS))]
        actions.append(a)
        observations = sim.step(dict(zip(LEVELS, map(float, a), strict=True)))
    return demand, actions, {(r.period, r.node): r for r in sim.rows}


@pytest.mark.parametrize(
    ("demand", "replication"),
    [
        (None, 0),
        (None, 7),
        ({"dist": "merton"}, 1),
        ({"dist": "merton"}, 4),
        ({"dist": "uniform_int", "low": 0, "high": 30}, 2),  # demand above the orders: backlogs grow
    ],
)
def test_serial_twin_equals_liu_recursion_period_by_period(demand, replication):
    scenario = serial(demand)
    rng = np.random.default_rng(100 + replication)
    demand_path, actions, rows = drive(scenario, replication, rng)
    expected = liu_serial_recursion([int(d) for d in demand_path], actions)
    assert any(e["backlog"][i] > 0 for e in expected for i in range(3)), "no backlog: weak test"
    # What each level observes at the start of every period is their observation too.
    observed = {(o.period, o.node): o for o in observations_of(scenario, replication, actions)}
    for t, e in enumerate(expected):
        for i, node in enumerate(LEVELS):
            row = rows[(t, node)]
            got = (
                row.closing_on_hand,
                row.backorders,
                row.ordered,
                row.receipts,
                rows[(t, UPSTREAM[node])].shipped,
                row.holding_cost + row.stockout_cost,
                row.total_cost,
            )
            want = (
                e["on_hand"][i],
                e["backlog"][i],
                e["orders"][i],
                e["received"][i],
                e["shipped_to"][i],
                e["cost"][i],
                e["cost"][i],
            )
            assert got == want, f"period {t}, {node}: twin {got} != Liu {want}"
            o, want_obs = observed[(t, node)], e["observations"][i]
            padded = o.pipeline + (0.0,) * (4 - len(o.pipeline))  # the twin trims trailing zeros
            got_obs = (o.on_hand, o.backorders, o.last_demand, padded, o.inventory_position)
            want_obs = (
                want_obs["on_hand"],
                want_obs["backlog"],
                want_obs["last_demand"],
                tuple(want_obs["pipeline"]),
                position(want_obs),
            )
            assert got_obs == want_obs, f"period {t}, {node}: observed {got_obs} != Liu {want_obs}"


def observations_of(scenario, replication, actions):
    """The observations the twin gives an agent that orders ``actions``."""
    agent = Scripted(actions)
    Simulation(scenario, replication=replication, agents={0: agent}).run()
    return agent.seen


class Scripted:
    """A rule-like agent that orders a fixed sequence (to run liu timing without stepping)."""

    def __init__(self, actions):
        self.actions = actions
        self.seen = []

    def reset(self, *, seed=None):
        pass

    def act(self, observations):
        out = {}
        for node, obs in observations.items():
            self.seen.append(obs)
            out[node] = float(self.actions[obs.period][LEVELS.index(node)])
        return out


def test_agents_run_inside_the_twin_see_the_same_period():
    scenario = serial()
    rng = np.random.default_rng(5)
    demand, actions, stepped = drive(scenario, 3, rng)
    agent = Scripted(actions)
    result = Simulation(scenario, replication=3, agents={0: agent}).run()
    assert {(r.period, r.node): r for r in result.rows} == stepped
    # Observations are the state at the close of the last period (the initial state at t = 0).
    for obs in agent.seen:
        if obs.period == 0:
            assert (obs.on_hand, obs.backorders, obs.pipeline, obs.last_demand) == (
                10.0,
                0.0,
                (10.0, 10.0, 10.0, 10.0),
                10.0,  # initial_demand: their reset observation
            )
        else:
            last = stepped[(obs.period - 1, obs.node)]
            assert (obs.on_hand, obs.backorders, obs.last_demand, obs.on_order) == (
                last.closing_on_hand,
                last.backorders,
                last.demand,
                last.on_order,
            )
            assert sum(obs.pipeline) == last.in_transit_inbound


# -- the rule baselines on their recursion ---------------------------------------------------------

BASELINES = [
    ("constant", {"quantity": 10}),
    ("pass_through", {}),
    ("base_stock", {"base_stock_level": [35, 48, 52]}),
    ("echelon_base_stock", {"base_stock_level": [35, 80, 126]}),
    ("adaptive_base_stock", {"multiple": [3.6, 4.4, 5.15]}),
    ("adaptive_base_stock", {"multiple": [9.0, 9.0, 9.0]}),  # far above 20: the cap binds
]


def rule_scenario(kind, params, *, demand=None, initial_demand=10, max_order=20, periods=200):
    """liu_serial decided by one rule entry (per-level parameters as a {node: value} mapping)."""
    data = yaml.safe_load(open("scenarios/liu_serial.yaml", encoding="utf-8"))
    data.update(periods=periods, initial_demand=initial_demand)
    if demand is not None:
        data["nodes"][0]["demand"] = demand
    twin_params = {
        k: dict(zip(LEVELS, v, strict=True)) if isinstance(v, list) else v for k, v in params.items()
    }
    if max_order is not None:
        twin_params["max_order"] = max_order
    if kind == "adaptive_base_stock":
        twin_params["integer"] = True
    data["agents"] = [{"nodes": LEVELS, "kind": kind, "params": twin_params}]
    return scenario_from_dict(data)


def demand_path(scenario, replication):
    return [int(d) for d in Simulation(scenario, replication=replication).network.demands[0].quantities]


@pytest.mark.parametrize(("kind", "params"), BASELINES)
@pytest.mark.parametrize(
    ("demand", "replication"), [({"dist": "merton"}, 3), ({"dist": "merton"}, 11), (None, 2)]
)
def test_rules_reproduce_their_recursion_period_by_period(kind, params, demand, replication):
    """Each baseline, run as a rule agent inside the twin on a generated path, orders, holds,
    backlogs and costs exactly what the recursion of their environment gives it."""
    scenario = rule_scenario(kind, params, demand=demand)
    path = demand_path(scenario, replication)
    expected = liu_serial_recursion(path, reference_rule(kind, params))
    rows = {(r.period, r.node): r for r in Simulation(scenario, replication=replication).run().rows}
    for t, e in enumerate(expected):
        for i, node in enumerate(LEVELS):
            r = rows[(t, node)]
            got = (r.ordered, r.closing_on_hand, r.backorders, r.total_cost)
            want = (e["orders"][i], e["on_hand"][i], e["backlog"][i], e["cost"][i])
            assert got == want, f"{kind}, period {t}, {node}: twin {got} != Liu {want}"
    episode = sum(r.total_cost for r in rows.values())
    assert episode == sum(sum(e["cost"]) for e in expected)
    if params.get("multiple") == [9.0, 9.0, 9.0]:
        assert max(max(e["orders"]) for e in expected) == 20, "the cap never binds: a weak test"


def test_the_first_observed_demand_is_the_scenarios_initial_demand():
    """Their reset shows every level a last demand of 10: pass-through orders 10 in period 0.
    Started at 0 instead (the twin's default), period 0 orders nothing, and the episode differs;
    either way the twin equals the recursion started the same way."""
    costs = {}
    for initial in (10, 0):
        scenario = rule_scenario("pass_through", {}, demand={"dist": "merton"}, initial_demand=initial)
        path = demand_path(scenario, 5)
        rows = Simulation(scenario, replication=5).run().rows
        assert [r.ordered for r in rows if r.period == 0 and r.node in LEVELS] == [initial] * 3
        expected = liu_serial_recursion(path, reference_rule("pass_through", {}), initial_demand=initial)
        costs[initial] = sum(r.total_cost for r in rows)
        assert costs[initial] == sum(sum(e["cost"]) for e in expected)
    assert costs[10] != costs[0]


def test_the_order_cap_limits_every_rule_order():
    """Uncapped, the adaptive rule orders more than 20 units; capped, the same run is identical up
    to the first such order, which becomes 20, and no order ever exceeds 20."""
    runs = {}
    for cap in (None, 20):
        scenario = rule_scenario("adaptive_base_stock", {"multiple": [9.0] * 3}, max_order=cap)
        runs[cap] = [r.ordered for r in Simulation(scenario).run().rows if r.node in LEVELS]
    first = next(k for k, q in enumerate(runs[None]) if q > 20)
    assert runs[20][:first] == runs[None][:first]
    assert runs[20][first] == 20
    assert max(runs[20]) == 20


def test_initial_demand_needs_liu_timing():
    data = yaml.safe_load(open("scenarios/liu_serial.yaml", encoding="utf-8"))
    data.update(timing="twin", initial_demand=10)
    with pytest.raises(
        ScenarioError, match=r"^liu.yaml: initial_demand: .*timing: liu.*must be 0 \(got 10\)$"
    ):
        scenario_from_dict(data, source="liu.yaml")


def test_initial_pipeline_arrives_in_periods_0_to_3_and_is_conserved():
    scenario = serial(periods=8)
    result = Simulation(scenario, agents={0: Scripted([[0, 0, 0]] * 8)}).run()  # audited
    receipts = {(r.period, r.node): r.receipts for r in result.rows}
    for node in LEVELS:
        assert [receipts[(t, node)] for t in range(8)] == [10, 10, 10, 10, 0, 0, 0, 0]


def test_the_twin_timing_is_unchanged_by_the_option():
    """The same scenario in twin timing observes after receipts and demand (not at the start)."""
    data = yaml.safe_load(open("scenarios/liu_serial.yaml", encoding="utf-8"))
    data.update(periods=5, timing="twin", initial_demand=0)
    agent = Scripted([[0, 0, 0]] * 5)
    Simulation(scenario_from_dict(data), agents={0: agent}).run()
    first = next(o for o in agent.seen if o.node == "retailer" and o.period == 0)
    assert first.pipeline == (10.0, 10.0, 10.0)  # the period-0 arrival is already on hand
    assert first.on_hand == max(0.0, 20.0 - first.last_demand)


def test_the_network_scenario_runs_in_liu_timing():
    result = Simulation(load_scenario("scenarios/liu_net_2x3.yaml")).run()
    assert len(result.rows) == 200 * 8


def test_merton_paths_follow_their_generator():
    """Liu et al.'s generator: a path starts at base (X_0 = 0), integer values in [0, maximum],
    its mean in (0, maximum); the same stream gives the same path."""
    d = from_spec({"dist": "merton"})
    assert d == Merton() and d.is_integer
    for seed in range(20):
        path = d.sample(np.random.default_rng(seed), 200)
        assert path[0] == 10 and path.shape == (200,)
        assert np.all(path == np.floor(path)) and 0 <= path.min() and path.max() <= 20
        assert 0 < path.mean() < 20
        assert np.array_equal(path, d.sample(np.random.default_rng(seed), 200))
    # Day-to-day moves are small (diffusion sd 0.039 and jumps of sd 0.02 sqrt(15) in log space):
    # the mean absolute change of int(10 exp(X)) is about half a unit.
    moves = np.mean(
        [np.abs(np.diff(d.sample(np.random.default_rng(s), 200))).mean() for s in range(200)]
    )
    assert 0.4 < moves < 0.7
    assert 7.5 < d.mean < 10.5


# -- the 2x3 network -----------------------------------------------------------------------------
# Liu et al.'s code rations a short upstream actor by serving its second downstream actor first and
# charges the unit cost on units shipped; the twin serves what is owed oldest first and charges on
# units ordered (scenarios/liu_net_2x3.yaml). The recursion below is their period with the twin's
# two rules, written as plain lists: it checks the timing, the two lead times, the initial
# pipeline and the per-lane orders.

NET = [
    ["retailer_1", "retailer_2"],
    ["distributor_1", "distributor_2"],
    ["manufacturer_1", "manufacturer_2"],
]
LEAD, COST = (4, 2), (0.1, 0.2)  # from the first / the second upstream actor


def liu_net_recursion(demand, actions, periods):
    """demand[j][t]; actions[t][i][j] = (from first, from second). Rows per (t, level, actor)."""
    inv = [[2.0, 2.0] for _ in range(3)]
    owed = [[[] for _ in range(2)] for _ in range(3)]  # FIFO entries [downstream or -1, qty]
    due = [[{t: 2.0 for t in range(4)} for _ in range(2)] for _ in range(3)]
    out = {}
    for t in range(periods):
        got = [[due[i][j].pop(t, 0.0) for j in range(2)] for i in range(3)]
        for i in range(3):
            for j in range(2):
                inv[i][j] += got[i][j]
        for j in range(2):
            owed[0][j].append([-1, demand[j][t]])
        ordered = [[0.0, 0.0] for _ in range(3)]
        cost = [[0.0, 0.0] for _ in range(3)]
        for i in range(3):
            for j in range(2):  # serve oldest first, ship
                _serve(inv, owed, due, i, j, t)
            for j in range(2):  # then order on both lanes
                for u in range(2):
                    q = float(actions[t][i][j][u])
                    ordered[i][j] += q
                    cost[i][j] += COST[u] * q
                    _place(owed, due, q, i, j, u, t)
        for i in range(3):
            for j in range(2):
                backlog = sum(q for _, q in owed[i][j])
                out[(t, NET[i][j])] = (
                    inv[i][j],
                    backlog,
                    got[i][j],
                    ordered[i][j],
                    inv[i][j] + backlog + cost[i][j],
                )
    return out


def _serve(inv, owed, due, i, j, t):
    """Actor ``j`` of level ``i`` fills what it owes, oldest first, from stock; shipments reach
    a downstream actor after the lead time of the lane from ``j``."""
    queue = owed[i][j]
    while queue and inv[i][j] > 0:
        q = min(queue[0][1], inv[i][j])
        inv[i][j] -= q
        queue[0][1] -= q
        if queue[0][0] >= 0:
            down = due[i - 1][queue[0][0]]
            down[t + LEAD[j]] = down.get(t + LEAD[j], 0.0) + q
        if queue[0][1] == 0:
            queue.pop(0)


def _place(owed, due, q, i, j, u, t):
    """Actor ``j`` of level ``i`` orders ``q`` from upstream actor ``u``: owed by it, or, from the
    outside suppliers above the top level, shipped in full."""
    if q and i < 2:
        owed[i + 1][u].append([j, q])
    elif q:  # outside suppliers ship in full
        due[i][j][t + LEAD[u]] = due[i][j].get(t + LEAD[u], 0.0) + q


def test_network_twin_equals_the_recursion_period_by_period():
    scenario = load_scenario("scenarios/liu_net_2x3.yaml", overrides={"periods": 120})
    nodes = [n for level in NET for n in level]
    sim = Simulation(scenario, replication=5, agents={0: ExternalAgent()})
    demand = [d.quantities.tolist() for d in sim.network.demands]
    assert [d.node.id for d in sim.network.demands] == NET[0]
    rng = np.random.default_rng(9)
    actions = []
    observations = sim.start()
    while observations is not None:
        a = rng.integers(0, 5, size=(3, 2, 2))
        actions.append(a.tolist())
        lanes = {n: observations[n].lanes for n in nodes}
        observations = sim.step(
            {
                NET[i][j]: OrderDecision(dict(zip(lanes[NET[i][j]], map(float, a[i][j]), strict=True)))
                for i in range(3)
                for j in range(2)
            }
        )
    expected = liu_net_recursion(demand, actions, 120)
    assert any(v[1] > 0 for v in expected.values())
    for r in sim.rows:
        if r.node in nodes:
            got = (r.closing_on_hand, r.backorders, r.receipts, r.ordered)
            want = expected[(r.period, r.node)]
            assert got == pytest.approx(want[:4]), f"period {r.period}, {r.node}"
            assert r.total_cost == pytest.approx(want[4]), f"period {r.period}, {r.node}"
