"""The agent protocol: observations in, order decisions out (DESIGN.md, Agents).

This module is the one place that says what the twin asks of an agent and when: :class:`Agent`
declares every hook with its default and its moment in the order of events. At each decision
epoch the twin calls every agent once per level, customer-facing level first, with the
observations of the nodes it decides for in that level. The agent returns, for each of those
nodes, an :class:`OrderDecision`: units to order on each of the node's ordering lanes (its inbound
lanes, or its production lane if it is a source). A bare number is accepted for a node and goes on
its first ordering lane.

Writing an agent::

    class HalfDemand(Agent):
        def __init__(self, *, fraction: float = 0.5) -> None:
            if not 0 <= fraction: raise ValueError(f"fraction must be >= 0, got {fraction}")
            self.fraction = fraction
        def act(self, observations):
            return {n: order(o, self.fraction * o.last_demand) for n, o in observations.items()}

and register it: ``agents.registry.register("half_demand", "mypackage.agents:HalfDemand")``, or from
another package through the ``twin.agents`` entry-point group.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from entities.messages import LaneId, NodeId


@dataclass(frozen=True)
class Observation:
    """What a node knows at a decision epoch. Quantities are in units; see the README glossary.

    ``inventory_position = on_hand + on_order - backorders``; ``echelon_inventory_position`` is the
    sum of the inventory positions of the node and every node downstream of it (Clark & Scarf 1960;
    Snyder & Shen 2019, sec. 6.2). ``pipeline[k]`` is the quantity due to arrive ``k + 1`` periods
    from now. ``last_demand`` is this period's demand at the node (customer demand plus orders
    received from downstream nodes), ``forecast`` its moving average over the scenario's
    ``forecast_window`` periods.
    """

    node: NodeId
    tier: str
    period: int
    on_hand: float
    backorders: float
    on_order: float
    in_transit: float
    inventory_position: float
    echelon_inventory_position: float
    last_demand: float
    forecast: float
    pipeline: tuple[float, ...]
    lanes: tuple[LaneId, ...]
    """Ordering lanes of the node, in scenario order (the first is the primary lane)."""

    @classmethod
    def _fast(cls, values: tuple) -> Observation:
        """Build from all field values in order, bypassing the frozen ``__init__``.

        An optimisation for the twin's decision epochs, which build one observation per node per
        period: a frozen dataclass's ``__init__`` sets each field with ``object.__setattr__``
        (about 2 us for 13 fields); filling ``__dict__`` at once costs a quarter of that.
        """
        obs = object.__new__(cls)
        obs.__dict__.update(zip(_OBSERVATION_FIELDS, values, strict=True))
        return obs


_OBSERVATION_FIELDS = tuple(f.name for f in fields(Observation))


@dataclass(frozen=True, slots=True)
class OrderDecision:
    """Units to order on each lane: ``OrderDecision({"W1->S1": 40.0})``. Missing lanes order 0."""

    quantities: Mapping[LaneId, float] = field(default_factory=dict)


def order(observation: Observation, quantity: float) -> OrderDecision:
    """An order of ``quantity`` on the observed node's primary (first) lane."""
    return OrderDecision({observation.lanes[0]: quantity})


class Agent:
    """Decides orders for a set of nodes: the one agent protocol, with every hook the twin calls.

    Construct with keyword ``params`` and validate them there (a ``ValueError`` naming the
    parameter). :meth:`act` is required; every other hook has the default below. The twin calls,
    in the order of events (README, "Order of events"; :mod:`entities.clock`):

    * :meth:`validate_nodes` once, when the scenario is validated and when the run is built;
    * :meth:`reset` before each replication;
    * :meth:`act` at each decision epoch, once per level with the observations of the agent's nodes
      in that level (customer-facing level first). *When* the observations are taken is the
      class attribute :attr:`observes`: ``"turn"`` (default) at the node's own turn of the
      ``DECIDE`` step, after the levels below have ordered; ``"epoch_open"`` all of the agent's
      nodes at the opening of the epoch, after demand and before any level orders (what an RL
      environment shows its learners, so a trained policy sees at deployment what it saw in
      training). Under ``timing: liu`` every agent is asked at the ``OBSERVE`` step with the state
      at the last close, whatever :attr:`observes` says;
    * :meth:`act` again, for one node, whenever that node's inventory position drops within the
      period, if :attr:`review` is ``"continuous"`` (continuous review);
    * :meth:`observe_ledger` after each period close with that period of the ledger (every node's
      row), if :attr:`observes_ledger` is true (agents whose observations use recent ledger rows).

    The engine calls these and never probes an agent for other attributes. An object that only
    has ``reset`` and ``act`` (duck typing) is given the defaults by :func:`conform`.
    """

    observes: Literal["turn", "epoch_open"] = "turn"
    observes_ledger: bool = False
    review: Literal["periodic", "continuous"] = "periodic"

    def reset(self, *, seed: int | None = None) -> None:
        """Called before each replication; ``seed`` seeds any randomness of the agent."""

    def act(self, observations: Mapping[NodeId, Observation]) -> Mapping[NodeId, Any]:
        """Return an :class:`OrderDecision` (or a number) for every observed node."""
        raise NotImplementedError(f"{type(self).__name__} must define act()")

    def validate_nodes(self, nodes: Sequence[str]) -> None:
        """Check the parameters against the nodes the agent will decide for (``ValueError``)."""

    def observe_ledger(self, rows: Sequence[Any]) -> None:
        """The ledger of the period just closed (if :attr:`observes_ledger`): a sequence of every
        node's row (``reconciliation.ledger.LedgerPeriod``; rows are built when read), which also
        gives ``column(name)`` (one value per row, NumPy) and ``positions(node)`` (the rows of a
        node, one per SKU), for reading a few numbers without building rows."""


class _Conformed(Agent):
    """An object with only ``reset`` and ``act``, given the protocol's defaults for the rest."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def reset(self, *, seed: int | None = None) -> None:
        self.inner.reset(seed=seed)

    def act(self, observations: Mapping[NodeId, Observation]) -> Mapping[NodeId, Any]:
        return self.inner.act(observations)


def conform(agent: Any) -> Agent:
    """``agent`` itself if it derives from :class:`Agent`, else a wrapper that gives a duck-typed
    agent (``reset`` and ``act`` only) the default hooks."""
    return agent if isinstance(agent, Agent) else _Conformed(agent)


def per_node(value: Any, node: str, name: str) -> Any:
    """Resolve a parameter given either once for all nodes or as a ``{node: value}`` mapping."""
    if isinstance(value, Mapping):
        if node not in value:
            raise ValueError(f"{name} has no value for node {node!r} (has {sorted(value)})")
        return value[node]
    return value
