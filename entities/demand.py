"""External customer demand: one aggregate quantity per period at a customer-facing node.

The quantities are drawn up front from the node's own stream (vectorised, and independent of
everything the policies do); the process hands one to the node at the ``DEMAND`` step of each period.

Non-stationary demand (:class:`DemandEffects`): the demand of period ``t`` is ``X_t * m_t``, where
``X_t`` is a draw of the node's base distribution (any one: Poisson, normal, negative binomial,
Merton jump-diffusion paths, ...) and ``m_t`` the product of the declared effect multipliers:

* linear trend: ``max(0, 1 + slope * t)``;
* seasonality: ``1 + amplitude * sin(2 pi (t - phase) / period)`` (``0 <= amplitude <= 1``);
* shocks: ``magnitude`` in the periods ``start .. start + duration - 1`` (several multiply);
* goodwill (endogenous: stockouts lower future demand, as in Schwartz's perturbed-demand model,
  "A new approach to stockout penalties", Management Science 12(12), 1966; a multiplier ``g_t``
  in ``[minimum, 1]``):
  after a period in which a fraction ``s`` of the new customer demand went unmet on arrival,
  ``g_{t+1} = max(minimum, g_t * (1 - drop * s))``; after a period with all new demand met,
  ``g_{t+1} = min(1, g_t + recovery)``; ``g_0 = 1``.

For an integer-valued base the product is rounded stochastically, ``floor(y) + [U_t < y - floor(y)]``
with a uniform ``U_t`` drawn up front, so ``E[D_t] = m_t E[X_t]`` exactly and demand stays whole.
Everything exogenous (the base draws, the multipliers, the uniforms) is fixed before the run, so two
policies see the same demand except through goodwill, which depends on the service they give.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Sequence
from dataclasses import dataclass

import numpy as np
import simpy

from entities.clock import DEMAND, Phase
from entities.nodes import Node


@dataclass(frozen=True)
class Shock:
    """Demand is multiplied by ``magnitude`` in periods ``start .. start + duration - 1``."""

    start: int
    magnitude: float
    duration: int = 1


@dataclass(frozen=True)
class Goodwill:
    """Loss of goodwill after stockouts (see the module docstring for the recursion)."""

    drop: float
    recovery: float
    minimum: float

    def update(self, level: float, demand: float, unmet: float) -> float:
        """The multiplier of the next period, given this period's new demand and its unmet part."""
        if unmet > 0.0 and demand > 0.0:
            return max(self.minimum, level * (1.0 - self.drop * min(1.0, unmet / demand)))
        return min(1.0, level + self.recovery)


@dataclass(frozen=True)
class DemandEffects:
    """Multiplicative, composable effects on a base demand distribution."""

    trend: float = 0.0
    """Slope of the linear trend, per period (relative to the base mean)."""
    season_period: float | None = None
    season_amplitude: float = 0.0
    season_phase: float = 0.0
    shocks: tuple[Shock, ...] = ()
    goodwill: Goodwill | None = None

    def multipliers(self, periods: int) -> np.ndarray:
        """The exogenous multipliers ``m_0 .. m_{periods-1}`` (goodwill excluded)."""
        t = np.arange(periods, dtype=float)
        m = np.maximum(0.0, 1.0 + self.trend * t)
        if self.season_period is not None and self.season_amplitude:
            m *= 1.0 + self.season_amplitude * np.sin(
                2.0 * math.pi * (t - self.season_phase) / self.season_period
            )
        for shock in self.shocks:
            lo, hi = max(0, shock.start), min(periods, shock.start + shock.duration)
            if lo < hi:
                m[lo:hi] *= shock.magnitude
        return m


def stochastic_round(values: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    """``floor(v) + [u < frac(v)]`` elementwise: an unbiased integer rounding of ``v >= 0``."""
    whole = np.floor(values)
    return whole + (uniforms < values - whole)


class CustomerDemand:
    """Demand ``quantities[t]`` at ``node`` in period ``t``.

    With ``goodwill``, ``quantities`` are the exogenous values before rounding and the demand of
    period ``t`` is ``quantities[t] * g_t``, rounded with ``uniforms[t]`` when given.
    """

    def __init__(
        self,
        node: Node,
        quantities: np.ndarray,
        *,
        goodwill: Goodwill | None = None,
        uniforms: np.ndarray | None = None,
    ) -> None:
        self.node = node
        self.quantities = quantities
        self.goodwill = goodwill
        self.uniforms = uniforms
        self.levels: list[float] = []  # goodwill multiplier of each period so far

    def process(self, env: simpy.Environment) -> Generator[Phase, None, None]:
        node = self.node
        if self.goodwill is None:
            for t, quantity in enumerate(np.ascontiguousarray(self.quantities).data):
                yield Phase(env, t, DEMAND)
                node.customer_demand(quantity, t)
            return
        goodwill, levels = self.goodwill, self.levels
        uniforms: Sequence[float] | None = None if self.uniforms is None else self.uniforms.tolist()
        level = 1.0
        for t, exogenous in enumerate(self.quantities.tolist()):
            yield Phase(env, t, DEMAND)
            levels.append(level)
            quantity = exogenous * level
            if uniforms is not None:
                whole = math.floor(quantity)
                quantity = whole + (1.0 if uniforms[t] < quantity - whole else 0.0)
            lost_before = node.lost_sales
            entry = node.customer_demand(quantity, t)
            level = goodwill.update(level, quantity, goodwill_unmet(node, entry, lost_before))


def goodwill_unmet(node: Node, entry: list | None, lost_before: float) -> float:
    """Units of one arrival's demand not met on arrival: still owed on ``entry`` plus lost now."""
    return (entry[1] if entry is not None else 0.0) + node.lost_sales - lost_before
