"""What lanes, allocation rules and production see of a stocking node: a structural type.

:class:`entities.nodes.Node` satisfies :class:`StockPoint`; lanes (:mod:`entities.lanes`), allocation
under shortage (:mod:`entities.allocation`) and bills of materials (:mod:`entities.production`) are
typed against this protocol instead of importing the node module, so the modules of ``entities``
import each other in one direction only (nodes -> allocation, production, lanes; never back).
"""

from __future__ import annotations

from collections import deque
from typing import Any, Protocol


class StockPoint(Protocol):
    """The counters and calls of a node that its lanes and serving rules use."""

    @property
    def id(self) -> str:
        """The node's id (read only: a ``NodeId`` is a ``str``)."""
        ...

    on_hand: float
    on_order: float
    owed: deque[list[Any]]
    backorders: float
    customer_backorders: float
    released: float
    outage: list[bool] | None
    allocation: str
    allocation_rank: dict[Any, int]
    # period counters (entities.nodes: reset at every close)
    demand: float
    produced: float
    consumed: float
    sold: float
    filled: float
    lost_in_transit: float

    @property
    def inventory_position(self) -> float: ...

    def receive(self, quantity: float, t: int) -> float: ...

    def receive_order(self, lane: Any, quantity: float, t: int) -> None: ...

    def available_to_promise(self) -> float: ...

    def forecast(self) -> float: ...

    def _settle(self, served: float) -> None: ...
