"""The simulation kernel: the clock, the decision epochs and the period close.

One replication of a scenario is a SimPy run over ``periods`` periods. Processes (DESIGN.md, order of
events; priorities in :mod:`entities.clock`):

* a customer-demand process per customer-facing node (``DEMAND``),
* arrival events of shipments, scheduled by the lanes (``RECEIVE``),
* the decision-epoch process (``DECIDE``): level by level, customer-facing level first, each node
  ships what it owes, then each agent with nodes in the level is called once with their
  observations, and its orders are placed upstream (so the level above sees them at once),
* the period-close process (``CLOSE``): the period's flows are recorded into the ledger's columns
  (:mod:`twin.engine.record`) and audited (:mod:`reconciliation.audit`, a block of periods at a
  time and at the end of the run).

Where nothing else can happen between them, the steps share events (an optimisation that leaves
the order of events as it is): when every customer node has a plain demand series, the epoch
process runs the receive and demand steps of every node, then the decide step, in one event
(:meth:`Simulation._customer_demand`); without customers arriving within the period it also
closes the period itself, at once unless another process has something due before the close
(:meth:`Simulation._quiet_until_close`). A period is then one SimPy event.

Under ``timing: liu`` (Liu et al.'s period) the agents are called earlier, at the ``OBSERVE`` step
that opens the period, with the state at the close of the last period (:meth:`observe_closed`);
their orders are executed at the ``DECIDE`` step in the same level order as above. Everything else
(receipts, demand, serving oldest first, the close) is the same in both timings.

The hooks an agent is called with, and when, are declared in :class:`agents.base.Agent` (``act``
at its turn or at the epoch's opening, ``act`` on continuous review, ``observe_ledger`` after each
close); the engine calls them and never probes an agent for other attributes.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import cached_property
from typing import Any

import numpy as np
from simpy.events import Event

from agents.base import Agent, Observation, OrderDecision
from entities.clock import CLOSE, DECIDE, DEMAND, OBSERVE, Phase
from entities.customers import CustomerArrivals
from entities.demand import CustomerDemand
from entities.errors import TwinError
from entities.lanes import Receipts
from entities.nodes import Node
from reconciliation.ledger import Ledger, LedgerRow
from reconciliation.trace import Trace
from twin.engine.build import AgentBinding, Network, build
from twin.engine.record import Recorder
from twin.engine.rng import RandomStreams
from twin.scenario.schema import Scenario

_new = object.__new__
_set = object.__setattr__
_INF = math.inf


class AgentError(TwinError):
    """An agent returned something the twin cannot execute (names agent, node, period, value)."""


class ExternalAgent(Agent):
    """Stands in for an agent whose decisions come from outside the run (an RL environment).

    Put it in ``Simulation(..., agents={i: ExternalAgent()})`` for the ``scenario.agents[i]`` to be
    driven from outside, then drive the run with :meth:`Simulation.start` and
    :meth:`Simulation.step` instead of :meth:`Simulation.run`. At each decision epoch the run pauses
    after customer demand, with the observations of every externally decided node taken at that
    moment (before any level decides: all external decisions are made on the same information, as
    in a parallel multi-agent environment); the decisions given to ``step`` are then executed at
    each node's own turn in the usual level order. Under ``timing: liu`` the run pauses at the
    start of each period instead, with observations of the state at the close of the last one.
    """

    def act(self, observations: Mapping[Any, Observation]) -> dict:
        raise TwinError("an ExternalAgent's decisions come from Simulation.step(), not act()")


class SimulationResult:
    """What one replication produced: its ledger (columns), and the event trace if recorded."""

    def __init__(
        self, scenario: Scenario, replication: int, ledger: Ledger, trace: Trace | None = None
    ) -> None:
        self.scenario = scenario
        self.replication = replication
        self.ledger = ledger
        self.trace: Trace = trace if trace is not None else Trace()

    @cached_property
    def rows(self) -> list[LedgerRow]:
        """The ledger as rows (materialised on first use: the columns in :attr:`ledger` are the
        compact form; a row takes about 700 bytes)."""
        return self.ledger.rows()

    def __repr__(self) -> str:
        return (
            f"SimulationResult({self.scenario.name!r}, replication={self.replication}, "
            f"periods={self.ledger.periods}, events={len(self.trace)})"
        )


class Simulation:
    """One replication of ``scenario``.

    ``replication`` selects the random streams (replication ``r`` of every variant draws the same
    demand and lead times); ``agents`` maps an index of ``scenario.agents`` to an agent instance that
    replaces it; ``trace`` records every Order and Shipment; ``audit`` checks the ledger identities
    each period (on by default; off only for speed measurements); ``setup`` is called with the
    built network before anything runs (a starting state: :class:`twin.engine.state.StartFrom`).
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        replication: int = 0,
        agents: Mapping[int, Any] | None = None,
        trace: bool = False,
        audit: bool = True,
        setup: Callable[[Network], None] | None = None,
    ) -> None:
        self.scenario = scenario
        self.replication = replication
        self.streams = RandomStreams(scenario.seed, replication)
        self.trace = Trace()
        self.network: Network = build(
            scenario, self.streams, agents=agents, trace=self.trace if trace else None
        )
        if setup is not None:
            setup(self.network)
        self.audit = audit
        self.recorder = Recorder(self.network, scenario.periods, audit=audit)
        self.ledger: Ledger = self.recorder.ledger
        self._rows: list[LedgerRow] = []
        self.external_nodes: list[Node] = [
            n for b in self.network.bindings if isinstance(b.agent, ExternalAgent) for n in b.nodes
        ]
        # Agents that, like an RL environment's learners, decide on the information of the epoch's
        # opening (all their nodes observed after demand, before any level decides), so that a
        # policy trained in twin.rl.env sees at deployment exactly what it saw in training.
        self._opening_nodes: list[Node] = [
            n
            for b in self.network.bindings
            if isinstance(b.agent, ExternalAgent) or b.agent.observes == "epoch_open"
            for n in b.nodes
        ]
        self._opening: dict[Any, Observation] = {}
        self.liu_timing = scenario.timing == "liu"
        # Demand and forecast of the nodes observed at a period's close (observe_closed): every
        # decided node under liu timing, else the external ones (for an environment's last state).
        self._closing_nodes: list[Node] = (
            [n for b in self.network.bindings for n in b.nodes]
            if self.liu_timing
            else self.external_nodes
        )
        self._closing: dict[Any, tuple[float, float]] = {}
        # -- demand: nodes whose customers arrive within the period have seen none of
        # this period's customers at its decision epoch: they observe last period's demand and
        # the forecast over closed periods, as observe_closed gives.
        self._intra: frozenset[Any] = frozenset(
            d.node.id for d in self.network.demands if isinstance(d, CustomerArrivals)
        )
        self._closing_nodes = self._closing_nodes + [  # a new list: it may be external_nodes
            n for n in self.network.nodes if n.id in self._intra and n not in self._closing_nodes
        ]
        self._ledger_listeners = [b.agent for b in self.network.bindings if b.agent.observes_ledger]
        for binding in self.network.bindings:  # decides on its observations at its nodes' turn
            binding.turn = binding.agent.observes == "turn" and not isinstance(
                binding.agent, ExternalAgent
            )
        self._echelon: dict[Node, list[Node]] = {
            n: self.network.echelon_members[n.id] for n in self.network.nodes
        }
        self._lanes = {n: self.network.lanes_of[n.id] for n in self.network.nodes}
        # Bound methods looked up once rather than every period (an optimisation of the two loops
        # that run for every node in every period).
        self._levels = [
            (level, [n.produce_to_order if n.make_to_order else n.serve for n in level.nodes])
            for level in self.network.levels
        ]
        self._resets = [n.close_period for n in self.network.nodes]
        self.pending: dict[Any, Observation] | None = None  # observations awaiting decisions
        self._request: Event | None = None
        self._external_decisions: Mapping[Any, Any] = {}
        for binding in self.network.bindings:  # continuous review (agents.rules, review)
            if binding.agent.review == "continuous":
                for node in binding.nodes:
                    node.watch = self._reviewer(binding)
        env = self.network.env
        demands = self.network.demands
        # Where every customer node has a plain demand series (no goodwill, no customers arriving
        # one by one), the epoch process itself runs the DEMAND step (_customer_demand).
        self._series: list[tuple[Node, memoryview]] | None = None
        plain = [d for d in demands if type(d) is CustomerDemand and d.goodwill is None]
        receipts = self.network.receipts
        if len(plain) == len(demands) and receipts is not None:
            self._series = [(d.node, np.ascontiguousarray(d.quantities).data) for d in plain]
            receipts.drive()  # and its RECEIVE step (_customer_demand)
        else:
            for demand in demands:
                env.process(demand.process(env))
        # Without customers arriving within the period nothing of the twin happens between a
        # period's decisions and its close, so the epoch process closes the period itself (at
        # once when nothing else is due before the close: _quiet_until_close).
        self._close_at_decide = not self._intra
        self._receipts: Receipts = receipts if receipts is not None else Receipts(env)
        self.closed = False  # True once the last period is closed
        epochs = env.process(self._liu_epochs() if self.liu_timing else self._decision_epochs())
        self._closer = epochs if self._close_at_decide else env.process(self._period_close())

    @property
    def env(self):  # noqa: ANN201 - simpy.Environment
        return self.network.env

    @property
    def rows(self) -> list[LedgerRow]:
        """The ledger rows of the periods closed so far (materialised as periods close)."""
        done = len(self._rows) // max(1, self.ledger.layout.size)
        if done < self.ledger.closed:
            self._rows.extend(self.ledger.rows(done, self.ledger.closed))
        return self._rows

    def run(self) -> SimulationResult:
        """Run all periods and return the ledger (and the trace, if recorded)."""
        if self.external_nodes:
            raise TwinError(
                "this run has externally decided nodes: drive it with start() and step(), not run()"
            )
        with collector_paused():
            self.network.env.run(until=self._closer)
        return self.result()

    def result(self) -> SimulationResult:
        """The ledger and trace so far (the periods closed so far are audited first)."""
        self.recorder.check()
        return SimulationResult(self.scenario, self.replication, self.ledger, self.trace)

    # -- stepping (external decisions) ---------------------------------------------------------

    def start(self) -> dict[Any, Observation] | None:
        """Run to the first decision epoch; return the external nodes' observations."""
        self._advance()
        return self.pending

    def step(self, decisions: Mapping[Any, Any]) -> dict[Any, Observation] | None:
        """Execute decisions for the pending epoch and run to the next one.

        ``decisions`` maps every externally decided node to an OrderDecision or a number. Returns
        the next observations, or None once the horizon is reached (the last period closed).
        """
        if self.pending is None or self._request is None:
            raise TwinError("no decision is pending: call start() first, or the run is over")
        missing = [n for n in self.pending if n not in decisions]
        if missing:
            raise AgentError(
                f"step() got no decision for node(s) {missing} at period {self.network.env.now}"
            )
        request, self._request, self.pending = self._request, None, None
        request.succeed(decisions)
        self._advance()
        return self.pending

    @property
    def done(self) -> bool:
        return self.pending is None and self.closed

    def _advance(self) -> None:
        env = self.network.env
        with collector_paused():
            while self.pending is None and not self.closed:
                env.step()

    # -- decision epochs ---------------------------------------------------------------------

    def _decision_epochs(self) -> Generator[Event, Any, None]:
        env = self.network.env
        series = self._series
        for t in range(self.scenario.periods):
            if series is not None:
                yield Phase(env, t, DEMAND)
                self._customer_demand(series, t)  # then DECIDE: nothing can come between
            else:
                yield Phase(env, t, DECIDE)
            if self._opening_nodes:
                self._opening = {n.id: self.observe(n, t) for n in self._opening_nodes}
            if self.external_nodes:
                self._request = Event(env)
                self.pending = {n.id: self._opening[n.id] for n in self.external_nodes}
                self._external_decisions = yield self._request
            self._execute(t, self._decide_now)
            if self._close_at_decide:
                if not self._quiet_until_close(t):
                    yield Phase(env, t + 1, CLOSE)
                self.close(t)
        if self._close_at_decide:
            self._finish()

    def _customer_demand(self, series: list[tuple[Node, memoryview]], t: int) -> None:
        """The RECEIVE and DEMAND steps of period ``t``, where every customer node has a plain
        demand series.

        An optimisation (benchmarks/RESULTS.md): instead of one RECEIVE event per period with
        arrivals (``entities.lanes.Receipts``) and one process and one event per customer node and
        period (``entities.demand.CustomerDemand.process``), the epoch process runs the receive
        step, then every node's demand, and goes on to the DECIDE step in the same event. Nothing
        else can happen between these steps of a period (events within the period come only from
        customers arriving one by one, whose networks are excluded; orders seen after a delay come
        at the ORDER step, before), lanes arrive in the order the receive event would have taken
        them, and nodes are served in the order their own events would have come in (that of
        ``Network.demands``), so the ledger is the same either way.
        """
        self._receipts.arrive(t)
        for node, quantities in series:
            node.customer_demand(quantities[t], t)

    def _decide_now(self, binding: AgentBinding, members: list[Node], t: int) -> Any:
        """Decisions of ``binding`` for its ``members`` at their turn (twin timing)."""
        agent = binding.agent
        if binding.turn:  # the common case first
            return agent.act(self._observe_all(members, t))
        if isinstance(agent, ExternalAgent):
            given = self._external_decisions
            return {n.id: given.get(n.id) for n in members}
        return agent.act({n.id: self._opening[n.id] for n in members})

    def _execute(self, t: int, decide: Callable[[AgentBinding, list[Node], int], Any]) -> None:
        """The DECIDE step: level by level, customer-facing first, each node ships what it owes
        (a make-to-order source produces first), then its agent's decisions are placed upstream;
        sources with an agent then produce."""
        for level, steps in self._levels:
            for step in steps:  # serve, or produce to order (bound once: see _levels)
                step(t)
            for binding, members in level.agents:
                self._apply(binding, members, decide(binding, members, t), t)
            for lane in level.production_lanes:
                lane.produce(t)

    def _reviewer(self, binding: AgentBinding) -> Callable[[Node, int], None]:
        """Continuous review: when a node's inventory position drops (Node.watch), ask its agent at
        once, with the node's observation now, and place the order now (any time in the period)."""

        def review(node: Node, t: int) -> None:
            self._apply(binding, [node], binding.agent.act({node.id: self.observe(node, t)}), t)

        return review

    def _liu_epochs(self) -> Generator[Event, Any, None]:
        """Liu et al.'s period: decide at the start of the period, execute at the DECIDE step.

        All agents (external ones included) choose their orders from the state at the close of the
        last period, before this period's receipts and customer demand; the orders are placed at
        each node's turn of the DECIDE step, after the node has served what it owes from its
        on-hand stock (which now includes this period's arrivals), level by level from the
        customer-facing level up. With integer lead times this is their recursion exactly: each
        level serves incoming demand plus backlog from on-hand plus this period's arrival, and
        ships ``min(demand + backlog, on-hand + arrival)`` to the level below.
        """
        env = self.network.env
        levels = self.network.levels
        for t in range(self.scenario.periods):
            yield Phase(env, t, OBSERVE)
            given: Mapping[Any, Any] = {}
            if self.external_nodes:
                self._request = Event(env)
                self.pending = {n.id: self.observe_closed(n, t) for n in self.external_nodes}
                given = yield self._request
            planned: list[Any] = []
            for level in levels:
                for binding, members in level.agents:
                    if isinstance(binding.agent, ExternalAgent):
                        planned.append({n.id: given.get(n.id) for n in members})
                    else:
                        planned.append(
                            binding.agent.act({n.id: self.observe_closed(n, t) for n in members})
                        )
            if self._series is not None:
                yield Phase(env, t, DEMAND)
                self._customer_demand(self._series, t)  # then DECIDE: nothing can come between
            else:
                yield Phase(env, t, DECIDE)
            self._execute(t, _replay(planned))
            if self._close_at_decide:
                if not self._quiet_until_close(t):
                    yield Phase(env, t + 1, CLOSE)
                self.close(t)
        if self._close_at_decide:
            self._finish()

    def _quiet_until_close(self, t: int) -> bool:
        """True if no event is due before the close of period ``t`` (the first event at time
        ``t + 1``): the epoch process may then close the period at once, saving an event. Some
        other process's event within the period defers the close to its usual moment."""
        queue = self.network.env._queue  # type: ignore[attr-defined]  # SimPy's heap, as Phase uses
        return not queue or queue[0][:2] >= (t + 1, CLOSE)

    def observe_closed(self, node: Node, t: int) -> Observation:
        """The observation of ``node`` at the start of period ``t``: the state at the close of
        period ``t - 1`` (at ``t == 0``, the initial state).

        What a ``timing: liu`` epoch sees: ``last_demand`` and ``forecast`` are those of period
        ``t - 1`` (the scenario's ``initial_demand`` before the first period) and ``pipeline[k]``
        arrives in period ``t + k`` (``k + 1`` periods after the close it describes). Also the last
        state of a stepped run: ``observe_closed(node, scenario.periods)`` once it is :attr:`done`.
        """
        last_demand, forecast = self._closing.get(node.id, (self.scenario.initial_demand,) * 2)
        return self._observation(node, t, last_demand, forecast, node.pipeline(t - 1))

    def observe(self, node: Node, t: int) -> Observation:
        """The observation of ``node`` now (period ``t``)."""
        if self._intra and node.id in self._intra:
            last_demand, forecast = self._closing.get(node.id, (0.0, 0.0))
            return self._observation(node, t, last_demand, forecast, node.pipeline(t))
        return self._observation(node, t, node.demand, node.forecast(), node.pipeline(t))

    def _observe_all(self, members: list[Node], t: int) -> dict[Any, Observation]:
        """The observations of ``members`` now (an agent's call at its turn)."""
        if self._intra:
            observe = self.observe
            return {n.id: observe(n, t) for n in members}
        observation = self._observation  # observe() without customers within the period, inlined
        return {n.id: observation(n, t, n.demand, n.forecast(), n.pipeline(t)) for n in members}

    def _observation(
        self, node: Node, t: int, last_demand: float, forecast: float, pipeline: tuple[float, ...]
    ) -> Observation:
        """The node's stock positions now, with the given demand signal and pipeline."""
        on_hand, on_order, backorders = node.on_hand, node.on_order, node.backorders
        ip = on_hand + on_order - backorders
        eip = ip
        for m in self._echelon[node]:
            eip += m.on_hand + m.on_order - m.backorders
        in_transit = 0.0
        for lane in node.inbound:
            in_transit += lane.in_transit
        # An optimisation (benchmarks/bench_twin.py): the frozen dataclass is filled with one dict
        # display instead of its __init__ (or Observation._fast's zip), half the cost of _fast; the
        # twin builds one observation per decided node and period.
        observation = _new(Observation)
        _set(
            observation,
            "__dict__",
            {
                "node": node.id,
                "tier": node.tier,
                "period": t,
                "on_hand": on_hand,
                "backorders": backorders,
                "on_order": on_order,
                "in_transit": in_transit,
                "inventory_position": ip,
                "echelon_inventory_position": eip,
                "last_demand": last_demand,
                "forecast": forecast,
                "pipeline": pipeline,
                "lanes": node.lane_ids,
            },
        )
        return observation

    def _apply(self, binding: AgentBinding, members: list[Node], decisions: Any, t: int) -> None:
        """Place the orders of ``decisions`` (an agent's answer for ``members`` at period ``t``),
        each on its lane or, for a node with a sourcing rule, split by the rule."""
        if type(decisions) is not dict or len(decisions) != len(members):  # else nothing to check
            _check_decisions(binding, members, decisions, t)
        for node in members:
            decision = decisions.get(node.id)
            items: Iterable[tuple[Any, Any]]
            if type(decision) is OrderDecision:  # the common case first (checked in full below)
                items = decision.quantities.items()
            else:
                items = _orders_of(binding, node, decision, t)
            lanes = self._lanes[node]
            sourcing = node.sourcing
            total = 0.0
            for lane_key, quantity in items:
                lane = lanes.get(lane_key)
                if lane is None:
                    raise AgentError(
                        f"{binding.name}: node {node.id!r} has no lane {lane_key!r} "
                        f"(its lanes: {list(lanes)}) at period {t}"
                    )
                if type(quantity) is float:  # the common case, without a conversion
                    q = quantity
                else:
                    try:
                        q = float(quantity)
                    except (TypeError, ValueError):
                        q = math.nan
                if not 0.0 <= q < _INF:
                    raise AgentError(
                        f"{binding.name}: order {quantity!r} on {lane_key!r} for "
                        f"node {node.id!r} at period {t} is not a finite number >= 0"
                    )
                if q > 0.0:
                    if sourcing is None:
                        lane.place_order(q, t)
                    else:
                        total += q
            if sourcing is not None and total > 0.0:  # the agent said how much, the rule where
                for lane, q in sourcing.split(total, t):
                    lane.place_order(q, t)

    # -- period close ------------------------------------------------------------------------

    def _period_close(self) -> Generator[Phase, None, None]:
        env = self.network.env
        for t in range(self.scenario.periods):
            yield Phase(env, t + 1, CLOSE)  # first thing at time t + 1 (entities.clock)
            self.close(t)
        self._finish()

    def _finish(self) -> None:
        """After the last close: audit the last periods, compact the ledger."""
        self.recorder.check()
        self.ledger.finish()
        self.closed = True

    def close(self, t: int) -> None:
        """Record period ``t`` in the ledger (audited a block of periods at a time), hand it to the
        agents that observe the ledger, then reset the period counters."""
        self.recorder.close(t)
        at_close = self._closing
        for node in self._closing_nodes:
            at_close[node.id] = (node.demand, node.forecast())
        if self._ledger_listeners:
            period = self.ledger.period(t)
            for agent in self._ledger_listeners:
                agent.observe_ledger(period)
        for reset in self._resets:
            reset()
        for lane in self.network.lanes:
            lane.ordered = 0.0
            lane.orders = 0


def _check_decisions(binding: AgentBinding, members: list[Node], decisions: Any, t: int) -> None:
    """Raise :class:`AgentError` unless ``decisions`` is a mapping with no node outside
    ``members``."""
    if type(decisions) is not dict and not isinstance(decisions, Mapping):
        raise AgentError(
            f"{binding.name} returned {type(decisions).__name__} at period {t}; "
            "act() must return a mapping node -> OrderDecision"
        )
    if len(decisions) != len(members):
        extra = sorted(set(decisions) - {m.id for m in members})
        if extra:
            raise AgentError(
                f"{binding.name} returned decisions for {extra}, which it does "
                f"not decide for, at period {t}"
            )


def _orders_of(binding: AgentBinding, node: Node, decision: Any, t: int) -> Iterable[tuple[Any, Any]]:
    """``(lane, quantity)`` pairs of a decision that is not exactly an :class:`OrderDecision`: a
    subclass of it, or a number (an order on the node's first lane)."""
    if decision is None:
        raise AgentError(f"{binding.name} returned no decision for node {node.id!r} at period {t}")
    if isinstance(decision, OrderDecision):
        return decision.quantities.items()
    return ((node.lane_ids[0], decision),)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while the twin runs (restored afterwards).

    An optimisation, measured in benchmarks/RESULTS.md (Scale): the objects a run keeps (the
    network, events in flight, the growing ledger) are walked by every full collection, and full
    collections come more often the more objects a period creates, so the collector's share grew
    with the network (5 % of the run at 52 nodes, 30 % at 1,023) and made the cost per node and
    period grow with the number of nodes. The twin frees what it creates by reference counting (a
    run leaves no garbage cycles behind but its own network), so nothing waits for the collector;
    cycles an agent makes are collected once the run returns.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _replay(planned: list[Any]) -> Callable[[AgentBinding, list[Node], int], Any]:
    """A ``decide`` for :meth:`Simulation._execute` handing out decisions made earlier, in order."""
    decisions = iter(planned)
    return lambda binding, members, t: next(decisions)


def simulate(scenario: Scenario, *, replication: int = 0, **options: Any) -> SimulationResult:
    """Run one replication: ``Simulation(scenario, replication=r, **options).run()``."""
    return Simulation(scenario, replication=replication, **options).run()


def run_scenario(
    scenario: Scenario,
    replications: int | None = None,
    *,
    progress: bool = False,
    trace: bool = True,
    setup: Callable[[Network], None] | None = None,
) -> list[SimulationResult]:
    """Run replications ``0 .. n-1`` of ``scenario`` (``n`` = ``scenario.replications`` by default).

    ``trace`` records the order/shipment trace of replication 0 (only); ``progress`` shows a tqdm
    bar on stderr; ``setup`` is given to every :class:`Simulation` (a starting state).
    """
    n = scenario.replications if replications is None else replications
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"replications must be an integer >= 1, got {replications!r}")
    bar = None
    if progress:
        import sys

        from tqdm import tqdm

        bar = tqdm(total=n, desc=scenario.name, unit="replication", file=sys.stderr)
    results = []
    try:
        for r in range(n):
            results.append(
                Simulation(scenario, replication=r, trace=trace and r == 0, setup=setup).run()
            )
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return results
