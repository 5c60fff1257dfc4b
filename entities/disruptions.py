"""Disruptions: outages of nodes and lanes, and shipments lost in transit.

Both are drawn up front for the whole horizon from the entity's own random stream (``outage`` of a
node or lane, ``shipment_loss`` of a lane), so every policy faces the same disruptions (common
random numbers, DESIGN.md, Randomness).

**Outages.** An entity is *down* in period ``t`` if ``t`` falls in one of its declared windows
(``start .. start + duration - 1``) or its two-state Markov chain is in the down state. The chain
starts up; from up it fails with probability ``fail`` each period, from down it recovers with
probability ``recover`` (a discrete-time on/off process: the long-run share of down periods is
``fail / (fail + recover)``, a down spell lasts ``1 / recover`` periods on average; Snyder et al.,
"OR/MS models for supply chain disruptions: a review", IIE Transactions 48(2), 2016, sec. 4; Tomlin,
"On the value of mitigation and contingency strategies for managing supply chain disruption
risks", Management Science 52(5), 2006). What *down* means is the twin's rule (README, Supply
side): a node that is down ships, sells and produces nothing (shipments to it still arrive; what it
owes waits); a lane that is down carries nothing new (what is already on it keeps travelling).

**Shipment loss.** Each period a lane's shipment (everything it sends that period travels together)
is hit with probability ``probability``; a hit loses the fraction ``fraction`` of it (a number or a
distribution on ``[0, 1]``), so the expected loss is ``probability * E[fraction]`` of the units
shipped. A whole-number shipment loses a whole number of units, ``floor(q f + U)`` with a uniform
``U`` drawn up front (unbiased: its mean is ``q f``). The lost units are discovered when the
shipment is due: they never reach the receiver's stock and are booked on its ledger row as
``lost_in_transit`` (audit identities 2 and 4 count them), as in Liu et al.'s random shipping loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from entities.distributions import Distribution


@dataclass(frozen=True)
class Outage:
    """When an entity is down: explicit ``windows`` and/or a Markov on/off chain."""

    windows: tuple[tuple[int, int], ...] = ()
    """``(start, duration)`` pairs: down in periods ``start .. start + duration - 1``."""
    fail: float = 0.0
    """Probability that an entity that is up goes down in the next period (Markov chain)."""
    recover: float = 1.0
    """Probability that an entity that is down comes back up in the next period."""

    def sample(self, rng: np.random.Generator, periods: int) -> np.ndarray:
        """``down[t]`` for ``t = 0 .. periods - 1`` (a boolean array)."""
        down = np.zeros(periods, dtype=bool)
        for start, duration in self.windows:
            down[start : start + duration] = True
        if self.fail > 0.0:
            uniforms = rng.random(periods)  # drawn whatever the chain does: fixed stream use
            state = False
            chain = np.empty(periods, dtype=bool)
            for t in range(periods):
                if t > 0:
                    state = uniforms[t] >= self.recover if state else uniforms[t] < self.fail
                chain[t] = state
            down |= chain
        return down


@dataclass(frozen=True)
class ShipmentLoss:
    """Random loss of a fraction of each period's shipment on a lane (see the module docstring)."""

    probability: float
    fraction: Distribution

    def sample(self, rng: np.random.Generator, periods: int) -> tuple[np.ndarray, np.ndarray]:
        """Per dispatch period: the fraction lost (0 when not hit) and a rounding uniform."""
        hit = rng.random(periods) < self.probability
        fractions = np.asarray(self.fraction.sample(rng, periods), dtype=float)
        return np.where(hit, fractions, 0.0), rng.random(periods)


def units_lost(quantity: float, fraction: float, uniform: float) -> float:
    """Units lost of a shipment of ``quantity`` hit by a loss ``fraction`` (whole shipments lose
    whole units, rounded stochastically with ``uniform``; never more than the shipment)."""
    lost = quantity * fraction
    if quantity.is_integer():
        lost = math.floor(lost + uniform)
    return lost if lost < quantity else quantity
