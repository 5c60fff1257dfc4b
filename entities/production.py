"""Factories with a bill of materials: production consumes input stock points of the same location.

A factory location stocks input SKUs (fed by lanes like any stock point) and makes output SKUs. The
output stock point's production line (``production->F/P``) is a :class:`ProductionLane`: producing
``q`` units of the output consumes ``units * q`` of each input ``(node, units)`` of its bill of
materials from the input stock points' on-hand stock, and is limited by production capacity and by
input availability (``q <= on_hand(input) / units`` for every input). The made units travel down the
production line for the output's ``production_lead_time`` (in transit meanwhile) and are booked as
``produced`` and ``released`` on the output; the consumed units as ``consumed`` on the input rows
(they leave the network: audit identities 1 and 4). Each input row also books as ``demand`` what
production wanted of it (``units * min(owed, capacity)``) and as ``filled_on_time`` what it got.

The bill-of-materials (gozinto) model is the textbook one of material requirements planning:
Nahmias & Olsen, *Production and Operations Analysis* (7th ed., 2015), ch. 8; Snyder & Shen,
*Fundamentals of Supply Chain Theory* (2nd ed., 2019), sec. 6.1 (assembly systems).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from entities.lanes import Lane

if TYPE_CHECKING:
    from entities.stockpoint import StockPoint

Bom = Sequence[tuple["StockPoint", float]]
"""``(input stock point, units of it per unit of output)`` pairs."""


def limit(bom: Bom, capacity: float) -> float:
    """The most output the inputs' on-hand stock allows, at most ``capacity`` (may be inf)."""
    most = capacity
    for node, units in bom:
        can = node.on_hand / units if node.on_hand > 0.0 else 0.0
        if can < most:
            most = can
    return most


def consume(bom: Bom, made: float, wanted: float) -> None:
    """Take ``units * made`` of each input (never more than it holds: no rounding residue below
    zero) and book the period's requirement ``units * wanted`` as the input's demand."""
    for node, units in bom:
        q = units * made
        if q > node.on_hand:
            q = node.on_hand
        node.on_hand -= q
        node.consumed += q
        node.demand += units * wanted
        node.filled += q


class ProductionLane(Lane):
    """The production line of a factory's output stock point with a bill of materials."""

    __slots__ = ("bom",)

    def __init__(self, *args: object, bom: Bom, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.bom = tuple(bom)

    def produce(self, t: int) -> None:
        """Make what is owed, up to capacity and what the inputs allow; consume the inputs."""
        owed = self.owed
        outage = self.destination.outage
        if owed <= 0.0 or (outage is not None and outage[t]):
            return
        wanted = owed if self.capacity is None or owed <= self.capacity else self.capacity
        made = limit(self.bom, wanted)
        consume(self.bom, made, wanted)
        if made > 0.0:
            self.destination.produced += made
            self.destination.released += made
            self.ship(made, t)
