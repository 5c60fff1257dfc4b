"""Messages exchanged between entities: orders travel upstream, shipments downstream.

Both are frozen records with ids; they are what the event trace records. ``NodeId`` and ``LaneId``
are the identifiers used everywhere (observations, decisions, ledger rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NewType

NodeId = NewType("NodeId", str)
LaneId = NewType("LaneId", str)
Period = NewType("Period", int)

#: Upstream end of the lane a source node orders production on (``"production->SUP"``).
PRODUCTION = "production"


def lane_id(origin: str, destination: str) -> LaneId:
    """The id of the lane from ``origin`` to ``destination``: ``"W1->S2"``."""
    return LaneId(f"{origin}->{destination}")


@dataclass(frozen=True, slots=True)
class Order:
    """``quantity`` units requested on ``lane`` by its downstream node in ``period``.

    ``seen`` is the period in which the upstream node receives it: ``period`` itself, or later on
    a lane with an order-processing delay.
    """

    id: int
    lane: LaneId
    period: int
    quantity: float
    seen: int | None = None


@dataclass(frozen=True, slots=True)
class Shipment:
    """``quantity`` units sent on ``lane`` at time ``sent``, received in period ``due``.

    ``lead_time`` is the sampled lead time; the shipment joins on-hand stock at the first receive
    step at or after ``sent + lead_time`` (so ``due = sent + ceil(lead_time)``; immediately when the
    lead time is zero). On a ``fifo`` lane a shipment that would overtake an earlier one waits for
    it: its ``lead_time`` is then ``due - sent``.
    """

    id: int
    lane: LaneId
    sent: int
    lead_time: float
    due: int
    quantity: float
    lost: float = 0.0
    """Units of it lost in transit (written off when it is due; a lane's ``shipment_loss``)."""
