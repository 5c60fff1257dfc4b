"""Scenario schema and loader: YAML in, a validated, frozen :class:`Scenario` out.

Everything is checked here, once, before any simulation object exists (the Ciw habit): unknown keys,
bad values, distribution parameters, unknown node ids (with "did you mean"), cycles, nodes with no
supply path, agent coverage (every node that orders is decided by exactly one agent) and each
agent's own parameters. Every error is a :class:`~twin.errors.ScenarioError` whose message names
the file, the YAML path and the value: ``hmarl.yaml: lanes[3].to: 'WH-2' is not a node; did you
mean 'WH2'?``.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from entities.distributions import Constant, Distribution, from_spec
from entities.messages import PRODUCTION, lane_id
from twin.errors import ScenarioError
from twin.topology import Topology

NodeKind = Literal["supplier", "factory", "warehouse", "store"]
SOURCE_KINDS = ("supplier", "factory")


def _to_distribution(value: Any) -> Distribution:
    return from_spec(value)  # ValueError -> pydantic error at this field's path


DistributionField = Annotated[
    Distribution,
    BeforeValidator(_to_distribution),
    PlainSerializer(lambda d: d.to_spec(), return_type=dict),
]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class NodeConfig(_Model):
    """A stocking point. Costs are per unit per period (holding, backorders) or per unit lost."""

    id: str = Field(min_length=1)
    kind: NodeKind
    tier: str | None = None
    """Label used to group nodes in reports and agent assignments; defaults to ``kind``."""
    initial_inventory: NonNegative = 0.0
    holding_cost: NonNegative = 0.0
    stockout_cost: NonNegative = 0.0
    """Per unit backordered at the end of a period (backlog), or per unit of demand lost (lost)."""
    unmet_demand: Literal["backlog", "lost", "partial"] = "backlog"
    capacity: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    """Production per period (suppliers and factories without upstream lanes); None = unlimited."""
    production_lead_time: DistributionField = Constant(0.0)
    demand: DistributionField | None = None
    """External customer demand per period, if this node serves end customers."""
    # -- sku (issue 6)
    skus: list[str] | None = None
    """Multi-SKU scenarios: the SKUs this location stocks (default: every top-level SKU)."""
    per_sku: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Per-SKU overrides of this node's fields (``{A: {holding_cost: 2, demand: {...}}}``)."""
    bom: dict[str, dict[str, Annotated[float, Field(gt=0, allow_inf_nan=False)]]] | None = None
    """Bill of materials of a factory: ``{output_sku: {input_sku: units per output unit}}``."""
    # -- demand (issue 6)
    backlog_fraction: Annotated[float, Field(ge=0, le=1)] | None = None
    """With ``unmet_demand: partial``: the fraction of each unmet customer demand backordered."""
    demand_effects: DemandEffectsConfig | None = None
    """Trend, seasonality, shocks and goodwill multiplying ``demand`` (or customers' arrivals)."""
    customers: CustomersConfig | None = None
    """Individual customers arriving within each period (instead of one aggregate ``demand``)."""
    demand_series: DemandSeriesConfig | None = None
    """Demand per period read from a CSV or Parquet file (instead of ``demand``)."""
    # -- supply side (issue 6)
    storage_capacity: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    """Units of on-hand stock the node can hold (per SKU in a multi-SKU scenario)."""
    overflow: Literal["refuse", "accept"] = "refuse"
    """Stock beyond ``storage_capacity``: ``refuse`` it at receipt (it waits on the lane for the
    next period), or ``accept`` it and pay ``overflow_cost`` per unit above capacity per period."""
    overflow_cost: NonNegative = 0.0
    allocation: AllocationConfig | None = None
    """How stock is shared when the node cannot fill all it owes (default FIFO)."""
    sourcing: SourcingConfig | None = None
    """How orders are split over several upstream lanes (default: as the agent decides)."""
    outage: OutageConfig | None = None
    """Periods in which the node ships, sells and produces nothing."""

    @field_validator("id")
    @classmethod
    def _plain_id(cls, v: str) -> str:
        if "->" in v or v.strip() != v:
            raise ValueError(f"node id must not contain '->' or surrounding spaces, got {v!r}")
        return v

    @property
    def tier_name(self) -> str:
        return self.tier or self.kind


class LaneConfig(_Model):
    """Material moves from ``from`` to ``to``; orders travel the other way."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, arbitrary_types_allowed=True
    )
    origin: str = Field(alias="from")
    destination: str = Field(alias="to")
    lead_time: DistributionField
    unit_cost: NonNegative = 0.0
    fixed_cost: NonNegative = 0.0
    """Charged once in each period in which an order is placed on this lane."""
    in_transit_holding_cost: NonNegative | None = None
    """Per unit in transit per period; overrides ``costs.in_transit_holding`` for this lane."""
    initial_pipeline: list[NonNegative] = Field(default_factory=list)
    """Units already on their way when the run starts: ``initial_pipeline[k]`` arrives in period
    ``k`` (the first entry at the receive step of period 0). Counted as released into the network
    (like initial inventory) and as ordered and shipped on the lane, so the audit still holds."""

    @property
    def id(self) -> str:
        return lane_id(self.origin, self.destination)

    # -- sku (issue 6)
    skus: list[str] | None = None
    """Multi-SKU scenarios: the SKUs this lane carries (default: every SKU both ends stock)."""
    # -- supply side (issue 6)
    capacity: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    """Units the lane carries per period at most (per SKU in a multi-SKU scenario); the rest
    stays owed upstream."""
    order_processing: DistributionField | None = None
    """Delay before the upstream node sees an order (periods; rounded up like lead times)."""
    fifo: bool = False
    """Shipments never overtake each other (default: they may cross)."""
    outage: OutageConfig | None = None
    """Periods in which the lane carries nothing new."""
    shipment_loss: ShipmentLossConfig | None = None
    """Random loss of a fraction of each period's shipment in transit."""


class AgentAssignment(_Model):
    """Which agent kind, with which params, decides for which nodes (by id or by tier)."""

    nodes: list[str] | None = None
    tier: str | None = None
    kind: str
    params: dict[str, Any] = Field(default_factory=dict)
    # -- sku (issue 6)
    sku: str | list[str] | None = None
    """Multi-SKU scenarios: decide only the stock points of these SKUs at the selected nodes."""

    @model_validator(mode="after")
    def _one_selector(self) -> AgentAssignment:
        if (self.nodes is None) == (self.tier is None):
            raise ValueError("give exactly one of 'nodes' or 'tier'")
        return self


class CostOptions(_Model):
    in_transit_holding: Literal["none", "sender", "receiver"] = "none"
    """Stock in transit is charged holding cost at the rate of the sender, of the receiver, or not
    at all (a lane's ``in_transit_holding_cost`` overrides). Booked on the receiving node's row."""


class RewardConfig(_Model):
    """Weights of ledger quantities in the RL reward (see :mod:`reconciliation.rewards`)."""

    weights: dict[str, float] = Field(
        default_factory=lambda: {"fill_rate": 10.0, "holding_cost": -0.01, "stockout_cost": -0.1}
    )
    scope: Literal["own", "team", "mix"] = "own"
    alpha: Annotated[float, Field(ge=0, le=1)] = 0.5


class SkuConfig(_Model):
    """One product of a multi-SKU scenario (issue 6)."""

    id: str = Field(min_length=1)
    description: str = ""
    defaults: dict[str, Any] = Field(default_factory=dict)
    """Overrides of node fields at every stock point of this SKU (a node's ``per_sku`` wins)."""

    @field_validator("id")
    @classmethod
    def _plain_id(cls, v: str) -> str:
        if "/" in v or "->" in v or v.strip() != v:
            raise ValueError(f"SKU id must not contain '/', '->' or surrounding spaces, got {v!r}")
        return v


# -- demand (issue 6)


class SeasonalityConfig(_Model):
    period: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    amplitude: Annotated[float, Field(ge=0, le=1)]
    phase: Annotated[float, Field(allow_inf_nan=False)] = 0.0


class ShockConfig(_Model):
    start: Annotated[int, Field(ge=0)]
    magnitude: NonNegative
    duration: Annotated[int, Field(ge=1)] = 1


class GoodwillConfig(_Model):
    drop: Annotated[float, Field(ge=0, le=1)]
    """Relative drop of the multiplier per unit of stockout fraction (unmet / new demand)."""
    recovery: NonNegative
    """Added to the multiplier (up to 1) after a period with all new demand met on arrival."""
    minimum: Annotated[float, Field(gt=0, le=1)] = 0.5


class DemandEffectsConfig(_Model):
    trend: Annotated[float, Field(allow_inf_nan=False)] = 0.0
    seasonality: SeasonalityConfig | None = None
    shocks: list[ShockConfig] = Field(default_factory=list)
    goodwill: GoodwillConfig | None = None


class CustomersConfig(_Model):
    rate: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    """Mean number of customers per period (Poisson)."""
    size: DistributionField = Constant(1.0)
    patience: DistributionField | None = None
    """Periods a backordered customer waits before leaving (None: waits for ever)."""


class DemandSeriesConfig(_Model):
    file: str | None = None
    files: list[str] | None = None
    """An evaluation set: replication ``i`` reads ``files[i]``."""
    column: str | None = None
    """Column (wide table) or ``node`` value (long table) to read; defaults to the node id."""

    @model_validator(mode="after")
    def _one_source(self) -> DemandSeriesConfig:
        if (self.file is None) == (self.files is None):
            raise ValueError("give exactly one of 'file' or 'files'")
        if self.files is not None and not self.files:
            raise ValueError("'files' must list at least one file")
        return self

    @property
    def paths(self) -> list[str]:
        return [self.file] if self.file is not None else list(self.files or [])


# -- supply side (issue 6)


def _rule_shorthand(value: Any) -> Any:
    """``allocation: proportional`` is short for ``allocation: {rule: proportional}``."""
    return {"rule": value} if isinstance(value, str) else value


class AllocationConfig(_Model):
    rule: Literal["fifo", "proportional", "priority", "fair_share"] = "fifo"
    priority: list[str] | None = None
    """With ``rule: priority``: downstream node ids (and ``customers``), highest first."""

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return _rule_shorthand(value)


class SourcingConfig(_Model):
    rule: Literal["agent", "proportional", "priority", "cheapest", "fastest"] = "agent"
    priority: list[str] | None = None
    """With ``rule: priority``: upstream node ids, preferred first (the rest in scenario order)."""
    weights: dict[str, NonNegative] | None = None
    """With ``rule: proportional``: a share per upstream node (equal when omitted)."""

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return _rule_shorthand(value)


class WindowConfig(_Model):
    start: Annotated[int, Field(ge=0)]
    duration: Annotated[int, Field(ge=1)]


class MarkovConfig(_Model):
    fail: Annotated[float, Field(ge=0, le=1)]
    """Probability per period that an entity that is up goes down."""
    recover: Annotated[float, Field(gt=0, le=1)]
    """Probability per period that an entity that is down comes back up."""


class OutageConfig(_Model):
    windows: list[WindowConfig] = Field(default_factory=list)
    markov: MarkovConfig | None = None

    @model_validator(mode="after")
    def _something(self) -> OutageConfig:
        if not self.windows and self.markov is None:
            raise ValueError("give 'windows' and/or 'markov'")
        return self


class ShipmentLossConfig(_Model):
    probability: Annotated[float, Field(ge=0, le=1)] = 1.0
    """Probability that a period's shipment on the lane is hit."""
    fraction: DistributionField
    """Fraction of a hit shipment that is lost: a number or a distribution on [0, 1]."""

    @field_validator("fraction")
    @classmethod
    def _unit_interval(cls, d: Distribution) -> Distribution:
        if d.upper > 1.0:
            raise ValueError(
                f"must lie in [0, 1], but {d!r} takes values up to {d.upper:g}; use "
                "a number, uniform, empirical or truncated_normal with high <= 1"
            )
        return d


class Scenario(_Model):
    """A whole scenario. Build one with :func:`load_scenario` or :func:`scenario_from_dict`."""

    name: str = Field(min_length=1)
    description: str = ""
    seed: Annotated[int, Field(ge=0)] = 0
    periods: Annotated[int, Field(gt=0)]
    warmup_periods: Annotated[int, Field(ge=0)] = 0
    replications: Annotated[int, Field(ge=1)] = 1
    forecast_window: Annotated[int, Field(ge=1)] = 7
    """Periods in the moving-average demand forecast given to agents in observations."""
    timing: Literal["twin", "liu"] = "twin"
    """Order of events: ``twin`` observes at each decision epoch after receipts and customer demand
    (README, Order of events); ``liu`` is Liu et al.'s period: every agent chooses its orders from
    the state at the start of the period (the close of the last one), before this period's
    receipts and demand, and the orders are then executed in the usual level order."""
    nodes: list[NodeConfig] = Field(min_length=1)
    lanes: list[LaneConfig] = Field(default_factory=list)
    agents: list[AgentAssignment] = Field(default_factory=list)
    costs: CostOptions = Field(default_factory=CostOptions)
    reward: RewardConfig = Field(default_factory=RewardConfig)
    # -- sku (issue 6)
    skus: list[SkuConfig] = Field(default_factory=list)
    """Products; empty = a single-SKU scenario (node ids are stock points, sku ``default``)."""
    _stock: Any = PrivateAttr(default=None)
    """The stock-point view (:meth:`stock_view`), filled by :func:`_check_sku`."""
    _stock_for: int = PrivateAttr(default=0)
    _points: dict[str, tuple[str, str]] = PrivateAttr(default_factory=dict)
    _lane_streams: dict[str, str] = PrivateAttr(default_factory=dict)
    _paths: dict[str, str] = PrivateAttr(default_factory=dict)

    def stock_view(self) -> Scenario:
        """The scenario the twin builds: one node per stock point (``location/sku``), one lane per
        (lane, SKU), agent selectors resolved to stock points. A single-SKU scenario is its own
        view."""
        if not self.skus:
            return self
        if self._stock is None or self._stock_for != id(self):  # not a model_copy's stale view
            self._stock, self._stock_for = _expand_skus(self), id(self)
        return self._stock

    def stock_point(self, node_id: str) -> tuple[str, str]:
        """``(location, sku)`` of a node of :meth:`stock_view` (``(id, "default")`` single-SKU)."""
        return self._points.get(node_id, (node_id, "default"))

    def lane_stream(self, lane: str) -> str:
        """The random-stream key of a lane of :meth:`stock_view`: the location lane's id, so the
        SKUs shipped on one lane in one period travel together (one lead-time draw)."""
        return self._lane_streams.get(lane, lane)

    @property
    def node_map(self) -> dict[str, NodeConfig]:
        return {n.id: n for n in self.nodes}

    def topology(self) -> Topology:
        return Topology.from_edges(
            [n.id for n in self.nodes], [(ln.origin, ln.destination) for ln in self.lanes]
        )

    def agent_nodes(self, index: int) -> list[str]:
        """Node ids decided by ``agents[index]`` (resolving a ``tier`` selector)."""
        a = self.agents[index]
        if a.nodes is not None:
            return list(a.nodes)
        return [n.id for n in self.nodes if n.tier_name == a.tier]

    def ordering_lanes(self, node: str) -> list[str]:
        """Lane ids a node orders on: its inbound lanes, or its production lane if it is a source."""
        inbound = [ln.id for ln in self.lanes if ln.destination == node]
        return inbound or [lane_id(PRODUCTION, node)]

    def to_yaml_dict(self) -> dict[str, Any]:
        """The resolved scenario as plain data (defaults filled in), loadable again."""
        return self.model_dump(mode="json", by_alias=True)


# --------------------------------------------------------------------------------------------------
# Cross-field checks (graph and agents), with YAML paths.


class _PathError(Exception):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path, self.message = path, message


def _suggest(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""


def _check_network(s: Scenario) -> None:
    ids = [n.id for n in s.nodes]
    seen: set[str] = set()
    for i, n in enumerate(s.nodes):
        if n.id in seen:
            raise _PathError(f"nodes[{i}].id", f"duplicate node id {n.id!r}")
        seen.add(n.id)
    lanes_seen: set[str] = set()
    for i, ln in enumerate(s.lanes):
        for key, end in (("from", ln.origin), ("to", ln.destination)):
            if end not in seen:
                raise _PathError(f"lanes[{i}].{key}", f"{end!r} is not a node{_suggest(end, ids)}")
        if ln.origin == ln.destination:
            raise _PathError(f"lanes[{i}]", f"lane from {ln.origin!r} to itself")
        if ln.id in lanes_seen:
            raise _PathError(f"lanes[{i}]", f"duplicate lane {ln.id!r}")
        lanes_seen.add(ln.id)
    try:
        topo = s.topology()
    except ValueError as exc:
        raise _PathError("lanes", str(exc)) from None
    for i, n in enumerate(s.nodes):
        if not topo.predecessors[n.id] and n.kind not in SOURCE_KINDS:
            raise _PathError(
                f"nodes[{i}]",
                f"{n.kind} {n.id!r} has no supply path: no lane leads "
                "to it (only suppliers and factories may be sources)",
            )
    bom_inputs = {k for n in s.nodes for units in (n.bom or {}).values() for k in units}  # sku
    for i, n in enumerate(s.nodes):
        if topo.predecessors[n.id] and n.capacity is not None:
            raise _PathError(
                f"nodes[{i}].capacity",
                f"{n.id!r} has upstream lanes; capacity limits "
                f"production at source nodes only, got {n.capacity}",
            )
        if (
            not topo.successors[n.id]
            and n.demand is None
            and n.customers is None
            and n.demand_series is None
            and n.id not in bom_inputs
        ):
            raise _PathError(
                f"nodes[{i}]",
                f"{n.id!r} has neither customers (demand) nor downstream lanes: nothing ever leaves it",
            )
    if s.warmup_periods >= s.periods:
        raise _PathError("warmup_periods", f"must be < periods ({s.periods}), got {s.warmup_periods}")


def _check_supply(s: Scenario) -> None:
    """Supply-side options (issue 6): storage, allocation and sourcing names, on the stock-point
    view (names are locations: the node ids of the scenario as written)."""
    location = {n.id: s.stock_point(n.id)[0] for n in s.nodes}
    upstream: dict[str, list[str]] = {}
    downstream: dict[str, list[str]] = {}
    for ln in s.lanes:  # over every SKU of a location: the lanes of the scenario as written
        upstream.setdefault(location[ln.destination], []).append(location[ln.origin])
        downstream.setdefault(location[ln.origin], []).append(location[ln.destination])
    for i, n in enumerate(s.nodes):
        where, loc = f"nodes[{i}]", location[n.id]
        if n.storage_capacity is None:
            if n.overflow == "accept" or n.overflow_cost:
                key = "overflow_cost" if n.overflow_cost else "overflow"
                raise _PathError(f"{where}.{key}", "needs storage_capacity")
        elif n.overflow == "refuse":
            if n.overflow_cost:
                raise _PathError(
                    f"{where}.overflow_cost",
                    f"is charged only with overflow: accept "
                    f"(overflow is 'refuse'), got {n.overflow_cost}",
                )
            if n.initial_inventory > n.storage_capacity:
                raise _PathError(
                    f"{where}.initial_inventory",
                    f"{n.initial_inventory:g} is above "
                    f"storage_capacity {n.storage_capacity:g} (overflow: refuse)",
                )
        a = n.allocation
        if a is not None:
            names = list(dict.fromkeys(downstream.get(loc, [])))
            if n.demand is not None or n.customers is not None or n.demand_series is not None:
                names.append("customers")
            if a.rule == "priority" and not a.priority:
                raise _PathError(
                    f"{where}.allocation.priority",
                    "list the downstream nodes (and "
                    f"'customers') in priority order; choices: {', '.join(names)}",
                )
            if a.rule != "priority" and a.priority is not None:
                raise _PathError(
                    f"{where}.allocation.priority",
                    f"is used only with rule: priority (rule is {a.rule!r})",
                )
            _names(
                a.priority or [],
                names,
                f"{where}.allocation.priority",
                f"a downstream node of {loc!r}" + (" or 'customers'" if "customers" in names else ""),
            )
        src = n.sourcing
        if src is None:
            continue
        mine = [location[ln.origin] for ln in s.lanes if ln.destination == n.id]
        if not mine:
            raise _PathError(f"{where}.sourcing", f"{loc!r} has no upstream lanes to split orders over")
        names = list(dict.fromkeys(upstream.get(loc, [])))
        if src.priority is not None and src.rule != "priority":
            raise _PathError(
                f"{where}.sourcing.priority", f"is used only with rule: priority (rule is {src.rule!r})"
            )
        if src.weights is not None and src.rule != "proportional":
            raise _PathError(
                f"{where}.sourcing.weights",
                f"is used only with rule: proportional (rule is {src.rule!r})",
            )
        _names(src.priority or [], names, f"{where}.sourcing.priority", f"an upstream node of {loc!r}")
        if src.weights is not None:
            _names(
                list(src.weights),
                names,
                f"{where}.sourcing.weights",
                f"an upstream node of {loc!r}",
                index=False,
            )
            missing = [u for u in mine if u not in src.weights]
            if missing:
                raise _PathError(
                    f"{where}.sourcing.weights", f"has no weight for upstream node {missing[0]!r}"
                )
            if sum(src.weights[u] for u in mine) <= 0:
                raise _PathError(
                    f"{where}.sourcing.weights", "must give some upstream node a weight > 0"
                )


def _names(given: list[str], choices: list[str], path: str, what: str, *, index: bool = True) -> None:
    """Every name of ``given`` is one of ``choices``, once."""
    for j, name in enumerate(given):
        here = f"{path}[{j}]" if index else f"{path}.{name}"
        _known(name, choices, here, what)
        if name in given[:j]:
            raise _PathError(here, f"{name!r} is listed twice")


def _check_agents(s: Scenario) -> None:
    from twin import registry  # late: the registry imports agents, which is heavier than config

    topo = s.topology()
    ids = [n.id for n in s.nodes]
    tiers = sorted({n.tier_name for n in s.nodes})
    owner: dict[str, int] = {}
    for i, a in enumerate(s.agents):
        if a.tier is not None and a.tier not in tiers:
            raise _PathError(
                f"agents[{i}].tier",
                f"{a.tier!r} is not a tier{_suggest(a.tier, tiers)} (tiers: {', '.join(tiers)})",
            )
        for j, node in enumerate(s.agent_nodes(i)):
            where = f"agents[{i}].nodes[{j}]" if a.nodes is not None else f"agents[{i}].tier"
            if node not in owner and node not in ids:
                raise _PathError(where, f"{node!r} is not a node{_suggest(node, ids)}")
            if node in owner:
                raise _PathError(where, f"{node!r} is already decided by agents[{owner[node]}]")
            owner[node] = i
        try:
            registry.validate(a.kind, a.params, s.agent_nodes(i))
        except registry.UnknownAgentError as exc:
            raise _PathError(f"agents[{i}].kind", str(exc)) from None
        except (TypeError, ValueError) as exc:
            raise _PathError(f"agents[{i}].params", f"{a.kind}: {exc}") from None
    for i, n in enumerate(s.nodes):
        if topo.predecessors[n.id] and n.id not in owner:
            raise _PathError(
                f"nodes[{i}]", f"{n.id!r} orders from upstream but no entry in 'agents' decides for it"
            )


def _check_demand(s: Scenario, source: str) -> Scenario:
    """Demand options (issue 6); returns the scenario with series paths made absolute."""
    from twin.series import SeriesError, load_series  # late: pandas

    base = Path(source).parent if not source.startswith("<") else Path.cwd()
    nodes = list(s.nodes)
    for i, n in enumerate(s.nodes):
        where = f"nodes[{i}]"
        given = [k for k in ("demand", "customers", "demand_series") if getattr(n, k) is not None]
        if len(given) > 1:
            raise _PathError(where, f"give at most one of {' / '.join(given)}, got {len(given)}")
        if (n.unmet_demand == "partial") != (n.backlog_fraction is not None):
            raise _PathError(
                f"{where}.backlog_fraction",
                "required with unmet_demand: partial "
                f"and only then (unmet_demand is {n.unmet_demand!r})",
            )
        if n.demand_effects is not None and not given:
            raise _PathError(
                f"{where}.demand_effects",
                "the node has no demand, customers or demand_series to apply effects to",
            )
        c = n.customers
        if c is not None and c.patience is not None and n.unmet_demand == "lost":
            raise _PathError(
                f"{where}.customers.patience",
                "customers never wait with unmet_demand: lost; use backlog or partial",
            )
        if n.demand_series is None:
            continue
        paths = []
        for j, name in enumerate(n.demand_series.paths):
            key = (
                f"{where}.demand_series.file"
                if n.demand_series.file is not None
                else f"{where}.demand_series.files[{j}]"
            )
            path = Path(name) if Path(name).is_absolute() else (base / name)
            try:
                load_series(str(path.resolve()), n.demand_series.column or n.id, s.periods)
            except SeriesError as exc:
                raise _PathError(key, str(exc)) from None
            paths.append(str(path.resolve()))
        if n.demand_series.files is not None and s.replications > len(paths):
            raise _PathError(
                f"{where}.demand_series.files",
                f"{len(paths)} file(s) for {s.replications} replications (replication i reads files[i])",
            )
        series = n.demand_series.model_copy(
            update={"file": paths[0]} if n.demand_series.file is not None else {"files": paths}
        )
        nodes[i] = n.model_copy(update={"demand_series": series})
    return s.model_copy(update={"nodes": nodes})


# --------------------------------------------------------------------------------------------------
# Multi-SKU scenarios (issue 6): the stock-point view and its checks.

_SKU_NODE_FIELDS = ("skus", "per_sku", "bom")


def _check_sku(s: Scenario) -> None:
    """Single-SKU scenarios must not use the SKU keys; a multi-SKU scenario is expanded into its
    stock-point view, on which the network and agent checks run, with errors mapped back to the
    YAML paths of the scenario as written."""
    if not s.skus:
        for i, n in enumerate(s.nodes):
            for key in _SKU_NODE_FIELDS:
                if getattr(n, key):
                    raise _PathError(f"nodes[{i}].{key}", "needs a top-level 'skus' list")
        for i, ln in enumerate(s.lanes):
            if ln.skus is not None:
                raise _PathError(f"lanes[{i}].skus", "needs a top-level 'skus' list")
        for i, a in enumerate(s.agents):
            if a.sku is not None:
                raise _PathError(f"agents[{i}].sku", "needs a top-level 'skus' list")
        return
    flat = _expand_skus(s)
    s._stock, s._stock_for = flat, id(s)
    try:
        _check_network(flat)
        _check_supply(flat)
        _check_agents(flat)
    except _PathError as exc:
        raise _map_path(flat, exc) from None


def _map_path(flat: Scenario, exc: _PathError) -> _PathError:
    """Rewrite a stock-point view path (``nodes[7].capacity``) as the written scenario's path."""
    import re

    paths = flat._paths
    m = re.match(r"^(nodes|lanes|agents)\[(\d+)\]", exc.path)
    if not m or m.group(0) not in paths:
        return exc
    return _PathError(paths[m.group(0)] + exc.path[m.end() :], exc.message)


def _sku_ids(s: Scenario) -> list[str]:
    ids: list[str] = []
    for i, sku in enumerate(s.skus):
        if sku.id in ids:
            raise _PathError(f"skus[{i}].id", f"duplicate SKU id {sku.id!r}")
        ids.append(sku.id)
    return ids


def _known(value: str, choices: list[str], path: str, what: str) -> None:
    if value not in choices:
        raise _PathError(
            path, f"{value!r} is not {what}{_suggest(value, choices)} (choices: {', '.join(choices)})"
        )


def _expand_skus(s: Scenario) -> Scenario:
    """The stock-point view of a multi-SKU scenario (see :meth:`Scenario.stock_view`).

    A stock point ``location/sku`` is the location's node validated with the SKU's ``defaults``
    and the node's ``per_sku`` entry merged over its fields (``NodeConfig.model_validate``, so every
    node field can be overridden per SKU). At a factory with a ``bom`` the location's ``capacity``
    applies to the output SKUs; its input stock points are fed by lanes.
    """
    skus = _sku_ids(s)
    defaults = {k.id: k.defaults for k in s.skus}
    locations = [n.id for n in s.nodes]
    for i, n in enumerate(s.nodes):
        if n.id in locations[:i]:
            raise _PathError(f"nodes[{i}].id", f"duplicate node id {n.id!r}")
    stocked: dict[str, list[str]] = {}
    outputs: dict[str, set[str]] = {}
    points: dict[str, tuple[str, str]] = {}
    paths: dict[str, str] = {}
    flat_nodes: list[NodeConfig] = []
    for i, n in enumerate(s.nodes):
        mine = list(skus) if n.skus is None else list(n.skus)
        if not mine:
            raise _PathError(f"nodes[{i}].skus", "lists no SKU")
        for j, sku in enumerate(mine):
            _known(sku, skus, f"nodes[{i}].skus[{j}]", "a SKU")
            if sku in mine[:j]:
                raise _PathError(f"nodes[{i}].skus[{j}]", f"duplicate SKU {sku!r}")
        for sku in n.per_sku:
            _known(sku, mine, f"nodes[{i}].per_sku.{sku}", f"a SKU stocked at {n.id!r}")
        outs = set(n.bom or {})
        for out, inputs in (n.bom or {}).items():
            _known(out, mine, f"nodes[{i}].bom.{out}", f"a SKU stocked at {n.id!r}")
            if not inputs:
                raise _PathError(f"nodes[{i}].bom.{out}", "lists no input SKU")
            for inp in inputs:
                _known(inp, mine, f"nodes[{i}].bom.{out}.{inp}", f"a SKU stocked at {n.id!r}")
                if inp in outs:
                    raise _PathError(
                        f"nodes[{i}].bom.{out}.{inp}",
                        f"{inp!r} is an output of this factory's bom; outputs cannot be inputs",
                    )
        if outs and n.kind != "factory":
            raise _PathError(f"nodes[{i}].bom", f"only factories have a bom; {n.id!r} is a {n.kind}")
        stocked[n.id], outputs[n.id] = mine, outs
        base = n.model_dump(exclude=set(_SKU_NODE_FIELDS))
        for sku in mine:
            data = {**base, **defaults[sku], **n.per_sku.get(sku, {}), "id": f"{n.id}/{sku}"}
            if outs and sku not in outs and "capacity" not in n.per_sku.get(sku, {}):
                data["capacity"] = None
            where = f"nodes[{i}].per_sku.{sku}" if sku in n.per_sku else f"nodes[{i}]"
            try:
                cfg = NodeConfig.model_validate(data)
            except ValidationError as exc:
                raise _PathError(where, f"SKU {sku!r}: {_first_error(exc)}") from None
            if any(getattr(cfg, key) for key in _SKU_NODE_FIELDS):
                raise _PathError(where, f"SKU {sku!r}: skus, per_sku and bom cannot be set per SKU")
            if sku in outs:
                cfg = cfg.model_copy(
                    update={"bom": {sku: {f"{n.id}/{inp}": u for inp, u in n.bom[sku].items()}}}
                )  # type: ignore[index]
            paths[f"nodes[{len(flat_nodes)}]"] = where
            points[cfg.id] = (n.id, sku)
            flat_nodes.append(cfg)

    flat_lanes: list[LaneConfig] = []
    streams: dict[str, str] = {}
    for i, ln in enumerate(s.lanes):
        for key, end in (("from", ln.origin), ("to", ln.destination)):
            _known(end, locations, f"lanes[{i}].{key}", "a node")
        both = [
            k
            for k in stocked[ln.origin]
            if k in stocked[ln.destination] and k not in outputs[ln.destination]
        ]
        if ln.skus is not None:
            for j, sku in enumerate(ln.skus):
                _known(sku, skus, f"lanes[{i}].skus[{j}]", "a SKU")
                if sku not in stocked[ln.origin] or sku not in stocked[ln.destination]:
                    raise _PathError(
                        f"lanes[{i}].skus[{j}]",
                        f"SKU {sku!r} is not stocked at both {ln.origin!r} and {ln.destination!r}",
                    )
                if sku in outputs[ln.destination]:
                    raise _PathError(
                        f"lanes[{i}].skus[{j}]",
                        f"{ln.destination!r} makes {sku!r} (bom); it cannot also receive it on a lane",
                    )
            both = list(dict.fromkeys(ln.skus))
        if not both:
            raise _PathError(
                f"lanes[{i}]",
                f"carries no SKU: {ln.origin!r} and {ln.destination!r} stock no SKU in common",
            )
        base = ln.model_dump(by_alias=True, exclude={"skus"})
        for sku in both:
            cfg = LaneConfig.model_validate(
                {**base, "from": f"{ln.origin}/{sku}", "to": f"{ln.destination}/{sku}"}
            )
            paths[f"lanes[{len(flat_lanes)}]"] = f"lanes[{i}]"
            streams[cfg.id] = ln.id
            flat_lanes.append(cfg)

    tiers = sorted({n.tier_name for n in s.nodes})
    flat_agents: list[AgentAssignment] = []
    for i, a in enumerate(s.agents):
        chosen = skus if a.sku is None else [a.sku] if isinstance(a.sku, str) else list(a.sku)
        for j, sku in enumerate(chosen):
            where = f"agents[{i}].sku" + (f"[{j}]" if isinstance(a.sku, list) else "")
            _known(sku, skus, where, "a SKU")
        if a.tier is not None:
            _known(a.tier, tiers, f"agents[{i}].tier", "a tier")
            selected = [n.id for n in s.nodes if n.tier_name == a.tier]
        else:
            selected = list(a.nodes or [])
        members: list[str] = []
        for j, name in enumerate(selected):
            where = f"agents[{i}].nodes[{j}]" if a.tier is None else f"agents[{i}].tier"
            if name in points:
                members.append(name)
            elif name in stocked:
                members += [f"{name}/{k}" for k in stocked[name] if k in chosen]
            else:
                raise _PathError(
                    where,
                    f"{name!r} is neither a node nor a stock point"
                    f"{_suggest(name, locations + list(points))}",
                )
        if not members:
            raise _PathError(f"agents[{i}]", "selects no stock point (check 'sku')")
        paths[f"agents[{i}]"] = f"agents[{i}]"
        flat_agents.append(
            AgentAssignment(nodes=list(dict.fromkeys(members)), kind=a.kind, params=a.params)
        )

    flat = s.model_copy(
        update={"nodes": flat_nodes, "lanes": flat_lanes, "agents": flat_agents, "skus": []}
    )
    flat._points, flat._lane_streams = points, streams
    flat._paths = paths
    return flat


# --------------------------------------------------------------------------------------------------
# Loading.


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith(("function-", "constrained-")) or part in {"dict[str,any]"}:
            continue
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors()
    e = errors[0]
    loc = _format_loc(tuple(p for p in e["loc"] if not (isinstance(p, str) and "[" in p)))
    msg = e["msg"].removeprefix("Value error, ")
    if e["type"] == "extra_forbidden":
        msg = "unknown key"
        return f"{loc}: {msg}" + (f" (and {len(errors) - 1} more errors)" if len(errors) > 1 else "")
    if e["type"] == "missing":
        return f"{loc}: required field is missing" + (
            f" (and {len(errors) - 1} more errors)" if len(errors) > 1 else ""
        )
    text = f"{loc}: {msg}"
    if "input" in e and not isinstance(e["input"], dict | list):
        text += f" (got {_short(e['input'])})"
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more errors)"
    return text


def scenario_from_dict(data: Mapping[str, Any], *, source: str = "<scenario>") -> Scenario:
    """Validate plain data (as parsed from YAML) into a :class:`Scenario`."""
    if not isinstance(data, Mapping):
        raise ScenarioError(f"{source}: a scenario must be a YAML mapping, got {_short(data)}")
    try:
        scenario = Scenario.model_validate(dict(data))
        scenario = _check_demand(scenario, source)
        _check_sku(scenario)
        if not scenario.skus:  # a multi-SKU scenario is checked on its stock points (_check_sku)
            _check_network(scenario)
            _check_supply(scenario)
            _check_agents(scenario)
    except ValidationError as exc:
        raise ScenarioError(f"{source}: {_first_error(exc)}") from None
    except _PathError as exc:
        raise ScenarioError(f"{source}: {exc}") from None
    return scenario


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file; a missing file or a syntax error is a ScenarioError naming the file."""
    p = Path(path)
    if not p.is_file():
        raise ScenarioError(f"{p}: no such scenario file")
    try:
        return yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScenarioError(f"{p}: YAML syntax error at {where}{problem}") from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{p}: not a UTF-8 text file ({exc.reason})") from None


def load_scenario(path: str | Path, overrides: Mapping[str, Any] | None = None) -> Scenario:
    """Read, override (top-level keys such as ``seed``, ``periods``) and validate a scenario file."""
    data = read_yaml(path)
    if isinstance(data, dict) and overrides:
        data = {**data, **overrides}
    return scenario_from_dict(data, source=str(path))


def parse_agent_override(text: str) -> tuple[str, str, dict[str, Any]]:
    """Parse ``TARGET=KIND[:k=v,...]`` (the CLI's ``--agent``); values are read as YAML scalars.

    >>> parse_agent_override("W1=s_S:s=600,S=1500")
    ('W1', 's_S', {'s': 600, 'S': 1500})
    """
    target, sep, rest = text.partition("=")
    if not sep or not target or not rest:
        raise ScenarioError(f"--agent {text!r}: expected TARGET=KIND[:key=value,...]")
    kind, _, params_text = rest.partition(":")
    params: dict[str, Any] = {}
    for item in filter(None, params_text.split(",")):
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise ScenarioError(f"--agent {text!r}: parameter {item!r} is not key=value")
        try:
            params[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            params[key.strip()] = value
    return target.strip(), kind.strip(), params


def apply_agent_override(
    data: dict[str, Any], target: str, kind: str, params: dict[str, Any], *, source: str
) -> dict[str, Any]:
    """Return scenario data in which ``target`` (a node id or a tier) is decided by a new agent.

    The target's nodes are removed from the assignments that held them; entries left empty go.
    """
    if data.get("skus"):
        return _apply_agent_override_skus(data, target, kind, params, source=source)
    nodes = data.get("nodes") or []
    ids = [n.get("id") for n in nodes if isinstance(n, dict)]
    tiers = {n.get("tier") or n.get("kind") for n in nodes if isinstance(n, dict)}
    if target in ids:
        selected = [target]
    elif target in tiers:
        selected = [n.get("id") for n in nodes if (n.get("tier") or n.get("kind")) == target]
    else:
        choices = [str(c) for c in [*ids, *tiers] if c]
        raise ScenarioError(f"{source}: --agent {target}: not a node or tier{_suggest(target, choices)}")
    agents = []
    for a in data.get("agents") or []:
        if not isinstance(a, dict):
            agents.append(a)
            continue
        members = a.get("nodes")
        if members is None and a.get("tier") is not None:
            members = [n.get("id") for n in nodes if (n.get("tier") or n.get("kind")) == a["tier"]]
        remaining = [m for m in (members or []) if m not in selected]
        if remaining == members:
            agents.append(a)
        elif remaining:
            kept = {
                k: (
                    {n: x for n, x in v.items() if n not in selected}
                    if isinstance(v, dict) and set(v) <= set(ids)
                    else v
                )
                for k, v in (a.get("params") or {}).items()
            }
            agents.append(
                {k: v for k, v in a.items() if k != "tier"} | {"nodes": remaining, "params": kept}
            )
    agents.append({"nodes": selected, "kind": kind, "params": params})
    return {**data, "agents": agents}


def _apply_agent_override_skus(
    data: dict[str, Any], target: str, kind: str, params: dict[str, Any], *, source: str
) -> dict[str, Any]:
    """:func:`apply_agent_override` for a multi-SKU scenario: ``target`` is a location (all its
    stock points), a tier or one stock point (``W/P``). The assignments are rewritten on stock
    points: those that held a selected stock point keep the others (and their per-node params)."""
    view = scenario_from_dict(data, source=source).stock_view()
    points = [n.id for n in view.nodes]
    locations = list(dict.fromkeys(view.stock_point(p)[0] for p in points))
    tiers = {n.tier_name for n in view.nodes}
    if target in points:
        selected = [target]
    elif target in locations:
        selected = [p for p in points if view.stock_point(p)[0] == target]
    elif target in tiers:
        selected = [n.id for n in view.nodes if n.tier_name == target]
    else:
        raise ScenarioError(
            f"{source}: --agent {target}: not a node, stock point or tier"
            f"{_suggest(target, [*locations, *points, *sorted(tiers)])}"
        )
    agents: list[Any] = []
    for original, a in zip(data.get("agents") or [], view.agents, strict=True):
        members = list(a.nodes or [])
        remaining = [m for m in members if m not in selected]
        if remaining == members:
            agents.append(original)
        elif remaining:
            kept = {
                k: (
                    {n: x for n, x in v.items() if n in remaining}
                    if isinstance(v, dict) and set(v) <= set(members)
                    else v
                )
                for k, v in a.params.items()
            }
            agents.append({"nodes": remaining, "kind": a.kind, "params": kept})
    agents.append({"nodes": selected, "kind": kind, "params": params})
    return {**data, "agents": agents}
