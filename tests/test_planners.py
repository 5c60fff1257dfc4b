"""Planner agents (agents/planners.py): conformance, in-the-loop runs, hand-computed plans, laws."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agents import registry
from agents.base import Agent, Observation, OrderDecision, order
from agents.planners import (
    DalsaPlanner,
    GAPlanner,
    HybridPlanner,
    PlanRecord,
    SilverMealPlanner,
    WagnerWhitinPlanner,
    planning_requirements,
)
from agents.rules import ConstantPolicy
from heuristics.lot_sizing import wagner_whitin
from twin.engine.checks import check_agent, sample_observations
from twin.engine.simulation import Simulation
from twin.run import resolve_scenario

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "lot_sizing.yaml"
NODES = ("n1", "n2", "n3")
PLANNERS = ("wagner_whitin", "silver_meal", "ga", "dalsa")
STORE = "setup_cost=200,holding_cost=1,lead_time=1,forecast=mean,demand_mean=20"
# --agent texts that put each planner on the store of the shipped scenario
IN_SCENARIO = {
    "wagner_whitin": f"store=wagner_whitin:{STORE}",
    "silver_meal": f"store=silver_meal:{STORE},safety_stock=4",
    "ga": f"store=ga:{STORE},seed_with_wagner_whitin=false",
    "dalsa": f"store=dalsa:{STORE},stockout_cost=10",
    "hybrid": "store=hybrid:proposal=base_stock:base_stock_level=26,setup_cost=200,"
    "holding_cost=1,forecast=moving_average,window=5",
}


def _obs(
    *,
    period: int = 0,
    on_hand: float = 0.0,
    backorders: float = 0.0,
    on_order: float = 0.0,
    demand: float = 10.0,
    node: str = "n1",
    lanes: tuple[str, ...] = ("up->n1",),
) -> Observation:
    ip = on_hand + on_order - backorders
    return Observation(
        node=node,
        tier="t",
        period=period,
        on_hand=on_hand,
        backorders=backorders,
        on_order=on_order,
        in_transit=on_order,
        inventory_position=ip,
        echelon_inventory_position=ip,
        last_demand=demand,
        forecast=demand,
        pipeline=(),
        lanes=lanes,
    )


def _released(decision: OrderDecision) -> float:
    return sum(decision.quantities.values())


# -- conformance ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "forecast",
    [
        {"forecast": "moving_average", "window": 3},
        {"forecast": "exponential_smoothing", "alpha": 0.5},
        {"forecast": "mean", "demand_mean": {"n1": 5, "n2": 20, "n3": 40}},
    ],
)
@pytest.mark.parametrize("kind", PLANNERS)
def test_planners_conform_with_every_forecast(kind, forecast):
    params = {
        "setup_cost": {"n1": 50, "n2": 100, "n3": 0},
        "holding_cost": 1,
        "lead_time": {"n1": 0, "n2": 1, "n3": 3},
        "horizon": 6,
        **forecast,
    }
    check_agent(registry.validate(kind, params, NODES), NODES)


def test_hybrid_conforms_around_a_stateful_planner():
    params = {
        "proposal": {
            "kind": "ga",
            "params": {"setup_cost": 10, "holding_cost": 1, "lead_time": 1, "horizon": 5},
        },
        "setup_cost": 100,
        "holding_cost": 1,
        "method": "wagner_whitin",
    }
    check_agent(registry.validate("hybrid", params, NODES), NODES)


# -- in the loop ---------------------------------------------------------------------------------


def _run(text: str, periods: int = 40) -> tuple[Simulation, object]:
    scenario = resolve_scenario(
        SCENARIO, overrides={"periods": periods, "warmup_periods": 0, "replications": 1}, agents=[text]
    )
    sim = Simulation(scenario, audit=True)
    sim.run()
    agent = next(b.agent for b in sim.network.bindings if any(n.id == "store" for n in b.nodes))
    return sim, agent


@pytest.mark.parametrize("kind", sorted(IN_SCENARIO))
def test_runs_in_the_shipped_scenario_and_re_plans_every_epoch(kind):
    periods = 40
    sim, agent = _run(IN_SCENARIO[kind], periods)
    plans = agent.plans
    # rolling horizon: one plan per epoch, each releasing its first period, and the twin placed
    # exactly the released quantity on the store's lane
    assert [p.period for p in plans] == list(range(periods))
    assert all(isinstance(p, PlanRecord) and p.node == "store" for p in plans)
    assert all(p.released == pytest.approx(p.planned[0]) for p in plans)
    ordered = [r.ordered for r in sim.rows if r.node == "store"]
    assert ordered == pytest.approx([p.released for p in plans])
    assert sum(1 for q in ordered if q > 0) < periods / 2  # a fixed cost of 200 batches orders
    adherence = agent.plan_adherence()
    assert adherence["compared"] == periods - 1
    assert adherence["mean_abs_difference"] >= 0
    assert 0 <= adherence["agreement"] <= adherence["timing_agreement"] <= 1


def test_shipped_scenario_runs_as_shipped():
    scenario = resolve_scenario(
        SCENARIO, overrides={"periods": 30, "replications": 1, "warmup_periods": 0}
    )
    assert scenario.agents[0].kind == "wagner_whitin"
    Simulation(scenario).run()


def test_planners_beat_ordering_every_period():
    """With K = 200 a lot-sizing planner is far cheaper than ordering every period (base stock)."""

    def cost(text: str) -> float:
        sim, _ = _run(text, periods=120)
        return sum(r.total_cost for r in sim.rows if r.period >= 20)

    assert cost(IN_SCENARIO["wagner_whitin"]) < 0.7 * cost("store=base_stock:base_stock_level=26")


# -- hand-computed plans -------------------------------------------------------------------------


def test_planning_requirements_net_after_the_lead_time():
    # f = 10, L = 2, IP = 25: cumulative need 20, 30, 40, 50 -> net 0, 5, 10, 10
    assert planning_requirements(10, 25, 2, 4).tolist() == [0.0, 5.0, 10.0, 10.0]
    # backorders are netted too, and safety stock is kept: IP = -5, L = 1, ss = 3 -> 10 + 5 + 3
    assert planning_requirements(10, -5, 1, 3, safety_stock=3).tolist() == [18.0, 10.0, 10.0]
    # L = 0: this period's demand is already in IP; only a negative IP is needed now
    assert planning_requirements(10, 0, 0, 3).tolist() == [0.0, 10.0, 10.0]


def test_wagner_whitin_agent_releases_the_first_lot_of_the_horizon():
    # Constant demand 10, known mean, lead time 0, K = 25, h = 1, horizon 4. This period's demand
    # is backordered (IP = -10), so the requirements are [10, 10, 10, 10]. Lots: one period costs
    # 25, two 25 + 10 = 35, three 25 + 10 + 20 = 55, four 85; the optimum is two lots of two
    # periods, 35 + 35 = 70: orders [20, 0, 20, 0], and 20 is released.
    agent = WagnerWhitinPlanner(
        setup_cost=25, holding_cost=1, lead_time=0, horizon=4, forecast="mean", demand_mean=10
    )
    agent.reset(seed=0)
    decision = agent.act({"n1": _obs(backorders=10)})["n1"]
    assert decision.quantities == {"up->n1": 20.0}
    assert agent.plans[-1].planned == (20.0, 0.0, 20.0, 0.0)
    reference = wagner_whitin([10, 10, 10, 10], 25, 1)
    assert (reference.orders.tolist(), reference.cost) == ([20.0, 0.0, 20.0, 0.0], 70.0)
    # Next period nothing was received yet (L = 0 orders arrive at once: IP = 10 - 10 = 0), so the
    # requirements are [0, 10, 10, 10]: one lot in period 1 covering three periods
    # (25 + 10 + 20 = 55 < 60 for two lots); nothing is released now.
    decision = agent.act({"n1": _obs(period=1, on_hand=0.0)})["n1"]
    assert _released(decision) == 0.0
    assert agent.plans[-1].planned == (0.0, 30.0, 0.0, 0.0)
    # The plan of period 0 said 0 for period 1 and 0 was released: full adherence.
    assert agent.plan_adherence() == {
        "compared": 1,
        "mean_abs_difference": 0.0,
        "agreement": 1.0,
        "timing_agreement": 1.0,
    }


def test_silver_meal_agent_with_lead_time():
    # f = 20 (moving average of one observation), L = 2, IP = 30: net requirements
    # [10, 20, 20, 20, 20]; K = 100, h = 1: cost per period 100, 60, 53.3, 55 -> 3 periods: 50.
    agent = SilverMealPlanner(setup_cost=100, holding_cost=1, lead_time=2, horizon=5)
    agent.reset()
    assert agent.act({"n1": _obs(on_hand=30, demand=20)})["n1"].quantities == {"up->n1": 50.0}
    assert agent.plans[-1].requirements == (10.0, 20.0, 20.0, 20.0, 20.0)
    assert agent.plans[-1].forecast == 20.0


def test_forecasts_follow_their_definitions():
    ma = SilverMealPlanner(setup_cost=0, holding_cost=1, lead_time=1, horizon=2, window=2)
    es = SilverMealPlanner(
        setup_cost=0, holding_cost=1, lead_time=1, horizon=2, forecast="exponential_smoothing", alpha=0.5
    )
    for agent in (ma, es):
        agent.reset()
        for t, d in enumerate((10.0, 20.0, 40.0)):
            agent.act({"n1": _obs(period=t, demand=d, on_hand=1000)})
    assert [p.forecast for p in ma.plans] == [10.0, 15.0, 30.0]
    assert [p.forecast for p in es.plans] == [10.0, 15.0, 27.5]


# -- DALSA ----------------------------------------------------------------------------------------


def test_dalsa_on_one_uncapacitated_lane_is_silver_meal():
    """DALSA's phase 2 is Silver-Meal: with one lane, no capacity and no stockout cost the two
    planners release the same quantities on any observations."""
    for lead_time in (0, 1, 3):
        params = {"setup_cost": 100, "holding_cost": 1, "lead_time": lead_time, "horizon": 8}
        dalsa, silver = DalsaPlanner(**params), SilverMealPlanner(**params)
        dalsa.reset(seed=0)
        silver.reset(seed=0)
        for batch in sample_observations(["n1", "n2"], seed=lead_time):
            a, b = dalsa.act(batch), silver.act(batch)
            for node in batch:
                assert _released(a[node]) == pytest.approx(_released(b[node]))


def test_dalsa_allocates_across_lanes_within_capacity():
    # Lane A is free but carries at most 30 a period; lane B costs 1 a unit. IP = -30 (backlog),
    # f = 20, L = 1: 30 units are late already and 20 are due next period, 50 in all now: A takes
    # its 30 and B the rest.
    agent = DalsaPlanner(
        setup_cost=0,
        holding_cost=1,
        lead_time=1,
        horizon=4,
        forecast="mean",
        demand_mean=20,
        lanes={"A->n1": {"capacity": 30}, "B->n1": {"unit_cost": 1}},
    )
    agent.validate_nodes(["n1"])
    agent.reset()
    decision = agent.act({"n1": _obs(backorders=30, lanes=("A->n1", "B->n1"))})["n1"]
    assert decision.quantities["A->n1"] == pytest.approx(30.0)
    assert decision.quantities["B->n1"] == pytest.approx(20.0)
    assert agent.plans[-1].released == pytest.approx(50.0)


# -- hybrid --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setup_cost", "method", "expected"),
    [
        (25, "silver_meal", 20.0),  # cost per period 25, 17.5, 18.3: cover 2 periods
        (25, "wagner_whitin", 20.0),  # [20, 0, 20, 0] at 70
        (0, "silver_meal", 10.0),  # free orders: the proposal unchanged
        (1000, "wagner_whitin", 40.0),  # dear orders: cover the whole 4-period horizon
    ],
)
def test_hybrid_refines_a_constant_proposal(setup_cost, method, expected):
    agent = registry.make(
        "hybrid",
        proposal={"kind": "constant", "params": {"quantity": 10}},
        setup_cost=setup_cost,
        holding_cost=1,
        horizon=4,
        method=method,
        forecast="mean",
        demand_mean=10,
    )
    agent.reset(seed=3)
    for t in range(3):
        decision = agent.act({"n1": _obs(period=t, on_hand=500)})["n1"]
        assert decision.quantities == {"up->n1": pytest.approx(expected)}
    assert agent.plans[-1].requirements == (10.0, 10.0, 10.0, 10.0)


def test_hybrid_keeps_the_proposal_timing_and_scales_lanes():
    class TwoLanes:
        def reset(self, *, seed=None):
            self.seed = seed

        def act(self, observations):
            return {
                n: OrderDecision({"A->n1": 6.0, "B->n1": 4.0}) if o.period % 2 else 0.0
                for n, o in observations.items()
            }

    inner = TwoLanes()
    agent = HybridPlanner(
        proposal=inner, setup_cost=1000, holding_cost=1, horizon=3, forecast="mean", demand_mean=10
    )
    agent.reset(seed=11)
    assert inner.seed == 11  # reset is forwarded
    lanes = ("A->n1", "B->n1")
    assert agent.act({"n1": _obs(period=0, lanes=lanes)})["n1"].quantities == {}
    # proposal 10 now, forecast 10 after: one lot of 30, split 60:40 as proposed
    assert agent.act({"n1": _obs(period=1, lanes=lanes)})["n1"].quantities == {
        "A->n1": pytest.approx(18.0),
        "B->n1": pytest.approx(12.0),
    }


def test_hybrid_text_proposal_and_forwarded_validation():
    agent = registry.make(
        "hybrid",
        proposal="constant:quantity=10",
        setup_cost=25,
        holding_cost=1,
        forecast="mean",
        demand_mean=10,
    )
    assert isinstance(agent.proposal, ConstantPolicy)
    with pytest.raises(ValueError, match=r"no value for node\(s\) \['n3'\]"):
        registry.validate(
            "hybrid",
            {
                "proposal": {"kind": "base_stock", "params": {"base_stock_level": {"n1": 1, "n2": 2}}},
                "setup_cost": 1,
                "holding_cost": 1,
            },
            NODES,
        )


# -- bad parameters ------------------------------------------------------------------------------


BASE = {"setup_cost": 100, "holding_cost": 1, "lead_time": 1}


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("wagner_whitin", {**BASE, "horizon": 0}, "horizon must be an integer >= 1, got 0"),
        ("silver_meal", {**BASE, "forecast": "arima"}, "forecast must be one of .* got 'arima'"),
        ("wagner_whitin", {**BASE, "lead_time": 1.5}, "lead_time must be an integer >= 0, got 1.5"),
        ("ga", {**BASE, "lead_time": {"n1": -1}}, r"lead_time\[n1\] must be an integer >= 0, got -1"),
        ("silver_meal", {**BASE, "setup_cost": -5}, "setup_cost must be >= 0.0, got -5"),
        ("silver_meal", {**BASE, "holding_cost": "x"}, "holding_cost must be a finite number, got 'x'"),
        (
            "wagner_whitin",
            {**BASE, "forecast": "exponential_smoothing", "alpha": 1.5},
            "alpha must be in \\(0, 1\\], got 1.5",
        ),
        (
            "wagner_whitin",
            {**BASE, "window": 3, "forecast": "mean", "demand_mean": 5},
            "window=3 is only used with forecast='moving_average'",
        ),
        ("dalsa", {**BASE, "forecast": "mean"}, "forecast='mean' needs demand_mean"),
        ("dalsa", {**BASE, "safety_stock": -2}, "safety_stock must be >= 0.0, got -2"),
        ("dalsa", {**BASE, "lanes": {"A->n1": {"lead": 2}}}, r"lanes\[A->n1\] has unknown key"),
        (
            "dalsa",
            {**BASE, "lanes": {"A->n1": {"capacity": 0}}},
            r"lanes\[A->n1\].capacity must be > 0.0, got 0",
        ),
        ("ga", {**BASE, "population_size": 1}, "population_size must be an integer >= 2, got 1"),
        (
            "hybrid",
            {"proposal": {"kind": "s_s"}, "setup_cost": 1, "holding_cost": 1},
            "proposal: unknown agent kind 's_s'; did you mean 's_S'",
        ),
        (
            "hybrid",
            {"proposal": "constant:quantity=-1", "setup_cost": 1, "holding_cost": 1},
            r"proposal \(constant\): quantity must be >= 0.0, got -1",
        ),
        ("hybrid", {"proposal": 7, "setup_cost": 1, "holding_cost": 1}, "got 7"),
        (
            "hybrid",
            {"proposal": "constant:quantity=1", "setup_cost": 1, "holding_cost": 1, "method": "lfl"},
            "method must be one of .* got 'lfl'",
        ),
        (
            "hybrid",
            {"proposal": "constant:quantity=1", "setup_cost": 1, "holding_cost": 1, "lead_time": 2},
            "unknown param\\(s\\) lead_time=2",
        ),
        (
            "hybrid",
            {"proposal": "constant:quantity=1", "setup_cost": 1},
            r"missing param\(s\) \['holding_cost'\]",
        ),
    ],
)
def test_bad_params_raise_value_error_naming_param_and_value(kind, params, message):
    with pytest.raises(ValueError, match=message):
        registry.validate(kind, params, ["n1"])


def test_dalsa_lanes_must_lead_to_the_agents_nodes():
    with pytest.raises(ValueError, match="'A->n9', which does not lead to any node"):
        registry.validate("dalsa", {**BASE, "lanes": {"A->n9": {"lead_time": 2}}}, ["n1"])


def test_hybrid_rejects_a_proposal_that_breaks_the_protocol():
    class Negative:
        def reset(self, *, seed=None):
            pass

        def act(self, observations):
            return {n: -3.0 for n in observations}

    agent = HybridPlanner(proposal=Negative(), setup_cost=1, holding_cost=1)
    with pytest.raises(ValueError, match="proposed -3.0 on lane 'up->n1' for node 'n1'"):
        agent.act({"n1": _obs()})


# -- reproducibility -----------------------------------------------------------------------------


def test_ga_reproducible_under_the_same_seed():
    def plans(seed: int) -> list[tuple[float, ...]]:
        agent = GAPlanner(
            setup_cost=60,
            holding_cost=1,
            lead_time=1,
            horizon=10,
            seed_with_wagner_whitin=False,
            generations=5,
            population_size=6,
        )
        agent.reset(seed=seed)
        for batch in sample_observations(["n1", "n2"], seed=5):
            agent.act(batch)
        return [p.planned for p in agent.plans]

    assert plans(1) == plans(1)
    sim_a, agent_a = _run(IN_SCENARIO["ga"], periods=30)
    sim_b, agent_b = _run(IN_SCENARIO["ga"], periods=30)
    assert sim_a.rows == sim_b.rows
    assert agent_a.plans == agent_b.plans


def test_plan_adherence_without_plans():
    agent = SilverMealPlanner(**BASE)
    assert agent.plan_adherence() == {
        "compared": 0,
        "mean_abs_difference": None,
        "agreement": None,
        "timing_agreement": None,
    }
    agent = SilverMealPlanner(**BASE, horizon=1)  # nothing planned beyond the release
    agent.reset()
    for t in range(3):
        agent.act({"n1": _obs(period=t)})
    assert agent.plan_adherence()["compared"] == 0
    assert np.isfinite(agent.plans[-1].released)


class _RecordingProposal(Agent):
    """A proposal that, like a PPO policy, decides at the epoch's opening from ledger history."""

    observes = "epoch_open"
    observes_ledger = True

    def __init__(self) -> None:
        self.ledger_periods: list[int] = []
        self.seen: list[tuple[int, float]] = []

    def observe_ledger(self, rows):
        self.ledger_periods.append(rows[0].period)

    def act(self, observations):
        self.seen += [(o.period, o.on_order) for o in observations.values()]
        return {n: order(o, 20.0) for n, o in observations.items()}


def test_hybrid_gives_its_proposal_the_ledger_and_the_epoch_opening():
    """The hybrid forwards observe_ledger to its proposal and decides when the proposal would:
    a policy that reads recent ledger rows sees them inside the hybrid as it does alone."""
    scenario = resolve_scenario(SCENARIO, overrides={"periods": 12, "warmup_periods": 0})
    alone, inside = _RecordingProposal(), _RecordingProposal()
    Simulation(scenario, agents={0: alone}).run()
    hybrid = HybridPlanner(
        proposal=inside, setup_cost=0.0, holding_cost=1.0, forecast="mean", demand_mean=20
    )
    assert hybrid.observes == "epoch_open" and hybrid.observes_ledger
    Simulation(scenario, agents={0: hybrid}).run()
    assert inside.ledger_periods == alone.ledger_periods == list(range(12))
    assert inside.seen == alone.seen  # K = 0: the hybrid orders what the proposal does
