"""External customer demand: one aggregate quantity per period at a customer-facing node.

The quantities are drawn up front from the node's own stream (vectorised, and independent of
everything the policies do); the process hands one to the node at the ``DEMAND`` step of each period.
"""

from __future__ import annotations

from collections.abc import Generator

import numpy as np
import simpy

from entities.clock import DEMAND, Phase
from entities.nodes import Node


class CustomerDemand:
    """Demand ``quantities[t]`` at ``node`` in period ``t``."""

    def __init__(self, node: Node, quantities: np.ndarray) -> None:
        self.node = node
        self.quantities = quantities

    def process(self, env: simpy.Environment) -> Generator[Phase, None, None]:
        node = self.node
        for t, quantity in enumerate(self.quantities.tolist()):
            yield Phase(env, t, DEMAND)
            node.customer_demand(quantity, t)
