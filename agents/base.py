"""The agent protocol: observations in, order decisions out (DESIGN.md, Agents).

At each decision epoch (period ``t``, after receipts and customer demand) the twin calls every agent
once per tier, customer-facing tier first, with the observations of the nodes it decides for in that
tier. The agent returns, for each of those nodes, an :class:`OrderDecision`: units to order on each of
the node's ordering lanes (its inbound lanes, or its production lane if it is a source). A bare
number is accepted for a node and goes on its first ordering lane.

Writing an agent::

    class HalfDemand:
        def __init__(self, *, fraction: float = 0.5) -> None:
            if not 0 <= fraction: raise ValueError(f"fraction must be >= 0, got {fraction}")
            self.fraction = fraction
        def reset(self, *, seed: int | None = None) -> None:
            pass
        def act(self, observations):
            return {n: order(o, self.fraction * o.last_demand) for n, o in observations.items()}

and register it: ``agents.registry.register("half_demand", "mypackage.agents:HalfDemand")``, or from
another package through the ``twin.agents`` entry-point group.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Protocol, runtime_checkable

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


@runtime_checkable
class Agent(Protocol):
    """Decides orders for a set of nodes. Construct with keyword ``params``; validate them there."""

    def reset(self, *, seed: int | None = None) -> None:
        """Called before each replication; ``seed`` seeds any randomness of the agent."""

    def act(self, observations: Mapping[NodeId, Observation]) -> Mapping[NodeId, Any]:
        """Return an :class:`OrderDecision` (or a number) for every observed node."""
        ...


def per_node(value: Any, node: str, name: str) -> Any:
    """Resolve a parameter given either once for all nodes or as a ``{node: value}`` mapping."""
    if isinstance(value, Mapping):
        if node not in value:
            raise ValueError(f"{name} has no value for node {node!r} (has {sorted(value)})")
        return value[node]
    return value
