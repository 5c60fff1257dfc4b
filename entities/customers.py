"""Intra-period customer arrivals: a compound Poisson process of individual customers.

In period ``t`` a node with ``customers`` sees ``N_t ~ Poisson(rate * m_t)`` customers (``m_t`` the
exogenous demand-effect multiplier, 1 without effects) at times ``t + u`` (``0 < u < 1``, the order
statistics of uniforms, i.e. a Poisson process), each asking for a quantity drawn from ``size``.
Counts, times, sizes, patiences (and goodwill acceptance uniforms) are drawn up front for the whole
horizon from separate streams of the node, so swapping the policy keeps common random numbers.

Each customer is served on arrival from on-hand stock, in arrival order (an arriving customer
waits behind those already backordered under full backlog). What is not met is backordered, lost,
or split by ``backlog_fraction`` (the node's ``unmet_demand``). A backordered customer with a
``patience`` ``p`` who is still (partly) waiting at ``arrival + p`` leaves: what is still owed to
it becomes a lost sale of the period in which it leaves (reneging, as in queueing with impatient
customers; in inventory terms a partial backorder whose lost part depends on the wait: Zipkin,
*Foundations of Inventory Management*, 2000, on partial backorders).

With goodwill (:class:`entities.demand.Goodwill`), a customer arriving in period ``t`` actually
comes with probability ``g_t`` (thinning with a pre-drawn uniform), where ``g_t`` follows the
service the node gave its customers in period ``t - 1``.
"""

from __future__ import annotations

from collections.abc import Generator

import numpy as np
import simpy

from entities.clock import DEMAND, Phase
from entities.demand import Goodwill, goodwill_unmet
from entities.nodes import Node

# Arrival offsets are kept inside (0, 1) with a margin, so that t + u is never t or t + 1 in floating
# point (for t up to ~10**6), whatever the uniform generator returns.
_MARGIN = 1e-9


def arrival_times(rng: np.random.Generator, counts: np.ndarray) -> np.ndarray:
    """Sorted arrival times ``t + u`` of ``counts[t]`` customers in each period ``t``."""
    periods = np.repeat(np.arange(len(counts), dtype=float), counts)
    offsets = np.clip(rng.random(len(periods)), _MARGIN, 1.0 - _MARGIN)
    return np.sort(periods + offsets)


class CustomerArrivals:
    """The customers of ``node``: ``counts[t]`` in period ``t``, at ``times``, of ``sizes``."""

    def __init__(
        self,
        node: Node,
        counts: np.ndarray,
        times: np.ndarray,
        sizes: np.ndarray,
        *,
        patience: np.ndarray | None = None,
        goodwill: Goodwill | None = None,
        accept: np.ndarray | None = None,
    ) -> None:
        self.node = node
        self.counts = counts
        self.times = times
        self.sizes = sizes
        self.patience = patience
        self.goodwill = goodwill
        self.accept = accept
        self.levels: list[float] = []  # goodwill multiplier of each period (with goodwill)
        self.reneged = 0.0  # units lost to customers who ran out of patience

    def process(self, env: simpy.Environment) -> Generator[Phase, None, None]:
        node = self.node
        times, sizes = self.times.tolist(), self.sizes.tolist()
        patience = None if self.patience is None else self.patience.tolist()
        goodwill = self.goodwill
        accept = None if self.accept is None else self.accept.tolist()
        level, demand, unmet = 1.0, 0.0, 0.0
        k = 0
        for t, n in enumerate(self.counts.tolist()):
            if goodwill is not None:
                if t > 0:
                    level = goodwill.update(level, demand, unmet)
                self.levels.append(level)
                demand = unmet = 0.0
            for j in range(k, k + n):
                if accept is not None and accept[j] >= level:
                    continue  # this customer stays away (lost goodwill)
                yield Phase(env, times[j], DEMAND)
                lost_before = node.lost_sales
                deadline = None if patience is None else times[j] + patience[j]
                entry = node.customer_demand(sizes[j], t, deadline)
                if goodwill is not None:
                    demand += sizes[j]
                    unmet += goodwill_unmet(node, entry, lost_before)
                if entry is not None and deadline is not None:
                    self._schedule_renege(env, entry, deadline)
            k += n

    def _schedule_renege(self, env: simpy.Environment, entry: list, deadline: float) -> None:
        node = self

        def leave(_event: object) -> None:
            node.reneged += node.node.renege(entry, int(env.now))

        Phase(env, deadline, DEMAND).callbacks.append(leave)
