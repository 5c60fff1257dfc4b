"""What a scenario is: the pydantic models of a scenario file, frozen, unknown keys forbidden.

Each model checks its own fields (types, ranges, distributions); checks across fields and entities
(ids, the graph, agents, demand files, SKUs) are in :mod:`twin.scenario.validate`, and loading in
:mod:`twin.scenario.load`. A :class:`Scenario` remembers the file and the plain data it was
validated from, so that :mod:`twin.scenario.edit` can change it and validate the result again.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from entities.distributions import Constant, Distribution, from_spec
from entities.messages import PRODUCTION, lane_id
from reconciliation.rewards import unknown_quantity
from twin.scenario.topology import Topology

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


def _reward_quantity(name: str) -> str:
    problem = unknown_quantity(name)
    if problem is not None:
        raise ValueError(problem)
    return name


RewardQuantity = Annotated[str, AfterValidator(_reward_quantity)]


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
    price: NonNegative = 0.0
    """Unit sale price: revenue per unit sold to external customers (``sold``). Shipments to
    other nodes of the network earn nothing (their cost is the lane's ``unit_cost``)."""
    unmet_demand: Literal["backlog", "lost", "partial"] = "backlog"
    capacity: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    """Production per period (suppliers and factories without upstream lanes); None = unlimited."""
    production_lead_time: DistributionField = Constant(0.0)
    demand: DistributionField | None = None
    """External customer demand per period, if this node serves end customers."""
    skus: list[str] | None = None
    """Multi-SKU scenarios: the SKUs this location stocks (default: every top-level SKU)."""
    per_sku: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Per-SKU overrides of this node's fields (``{A: {holding_cost: 2, demand: {...}}}``)."""
    bom: dict[str, dict[str, Annotated[float, Field(gt=0, allow_inf_nan=False)]]] | None = None
    """Bill of materials of a factory: ``{output_sku: {input_sku: units per output unit}}``."""
    backlog_fraction: Annotated[float, Field(ge=0, le=1)] | None = None
    """With ``unmet_demand: partial``: the fraction of each unmet customer demand backordered."""
    demand_effects: DemandEffectsConfig | None = None
    """Trend, seasonality, shocks and goodwill multiplying ``demand`` (or customers' arrivals)."""
    customers: CustomersConfig | None = None
    """Individual customers arriving within each period (instead of one aggregate ``demand``)."""
    demand_series: DemandSeriesConfig | None = None
    """Demand per period read from a CSV or Parquet file (instead of ``demand``)."""
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

    skus: list[str] | None = None
    """Multi-SKU scenarios: the SKUs this lane carries (default: every SKU both ends stock)."""
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
    """Weights of ledger quantities in the RL reward (see :mod:`reconciliation.rewards`), checked
    here once, when the scenario is validated (``{profit: 1}``, ``{total_cost: -1}``, ...)."""

    weights: dict[RewardQuantity, Annotated[float, Field(allow_inf_nan=False)]] = Field(
        default_factory=lambda: {"fill_rate": 10.0, "holding_cost": -0.01, "stockout_cost": -0.1}
    )
    scope: Literal["own", "team", "mix"] = "own"
    alpha: Annotated[float, Field(ge=0, le=1)] = 0.5


class SkuConfig(_Model):
    """One product of a multi-SKU scenario ."""

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
    """A whole scenario. Build one with :func:`twin.scenario.load_scenario` or
    :func:`twin.scenario.scenario_from_dict`; change one with :func:`twin.scenario.edit.edit`."""

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
    initial_demand: NonNegative = 0.0
    """Under ``timing: liu``: the demand every decided node is taken to have seen in the period
    before the first, i.e. its ``last_demand`` and ``forecast`` when it decides in period 0 (Liu et
    al.'s environments start this observation at their initial order, 10 in the serial chain and 2
    in the 2 x 3 network). Only ``timing: liu`` observes before period 0's demand, so any other
    timing requires 0."""
    nodes: list[NodeConfig] = Field(min_length=1)
    lanes: list[LaneConfig] = Field(default_factory=list)
    agents: list[AgentAssignment] = Field(default_factory=list)
    costs: CostOptions = Field(default_factory=CostOptions)
    reward: RewardConfig = Field(default_factory=RewardConfig)
    skus: list[SkuConfig] = Field(default_factory=list)
    """Products; empty = a single-SKU scenario (node ids are stock points, sku ``default``)."""
    _stock: Any = PrivateAttr(default=None)
    """The stock-point view, cached by :func:`twin.scenario.skus.stock_view`."""
    _stock_for: int = PrivateAttr(default=0)
    _points: dict[str, tuple[str, str]] = PrivateAttr(default_factory=dict)
    _lane_streams: dict[str, str] = PrivateAttr(default_factory=dict)
    _paths: dict[str, str] = PrivateAttr(default_factory=dict)
    _source: str = PrivateAttr(default="<scenario>")
    _data: Any = PrivateAttr(default=None)
    """The plain data this scenario was validated from (what :mod:`twin.scenario.edit` edits)."""
    _data_fields: dict[str, Any] | None = PrivateAttr(default=None)
    """The fields validated from ``_data``: a copy whose fields differ (``model_copy``) has no data."""

    @field_validator("initial_demand")
    @classmethod
    def _observed_before_the_first_period(cls, value: float, info: ValidationInfo) -> float:
        timing = info.data.get("timing")
        if value and timing != "liu":
            raise ValueError(
                f"only timing: liu observes before period 0's demand; with timing: {timing} it must be 0"
            )
        return value

    def stock_point(self, node_id: str) -> tuple[str, str]:
        """``(location, sku)`` of a node of the stock-point view (``(id, "default")`` single-SKU)."""
        return self._points.get(node_id, (node_id, "default"))

    def lane_stream(self, lane: str) -> str:
        """The random-stream key of a lane of the stock-point view: the location lane's id, so the
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

    def __eq__(self, other: object) -> bool:
        """Equal scenarios have equal fields (where they were read from does not count)."""
        return type(other) is type(self) and self.__dict__ == other.__dict__

    __hash__ = BaseModel.__hash__

    @property
    def source(self) -> str:
        """The file (or ``<...>`` label) this scenario was read from, for messages."""
        return self._source

    def to_yaml_dict(self) -> dict[str, Any]:
        """The resolved scenario as plain data (defaults filled in), loadable again."""
        return self.model_dump(mode="json", by_alias=True)
