"""Demand distributions placed on a lattice: the numerical core shared by the optimizers.

The analytical optimizers (``newsvendor``, ``serial``, ``ss``) take demand as a frozen
``scipy.stats`` distribution (``scipy.stats.norm(5, 1)``, ``scipy.stats.poisson(5)``, any other
frozen distribution, or ``scipy.stats.rv_discrete(values=...)`` for an empirical pmf) or, where
documented, as a one-dimensional array of demand samples. This private module turns such a demand
into probability masses on the lattice ``{k * step}`` and convolves it with itself to get the
demand over several periods (lead-time demand):

- normal demand: the sum of ``L`` periods is exactly ``N(L * mu, sqrt(L) * sigma)``; its masses
  are the probabilities of the cells ``[x - step/2, x + step/2)`` (midpoint binning, error
  ``O(step**2)``), truncated where the tail probability is below ``TAIL_PROBABILITY``;
- Poisson demand: the sum is exactly ``Poisson(L * mu)``, on the integers;
- other integer-valued demand (any frozen discrete distribution, an ``rv_discrete(values=...)``
  pmf, or integer samples): the one-period pmf convolved ``L`` times, on the integers;
- other continuous demand: the one-period distribution binned on the lattice, then convolved.

Convolutions use the real FFT (``scipy.fft``) and are trimmed of masses below ``TAIL_PROBABILITY``
so that lattices do not grow without need.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import fft, special, stats

TAIL_PROBABILITY = 1e-15
"""Probability left out at each end when an unbounded distribution is truncated."""

_NORMAL_TAIL_Z = float(-special.ndtri(TAIL_PROBABILITY))  # about 7.94 standard deviations


@dataclass(frozen=True)
class Lattice:
    """Probability masses on the points ``(first_index + k) * step``, ``k = 0, 1, ...``.

    Attributes:
        first_index: lattice index of ``masses[0]``.
        step: distance between neighbouring points (1 for integer-valued demand).
        masses: probabilities, non-negative, summing to 1 up to the truncated tails.
    """

    first_index: int
    step: float
    masses: NDArray[np.float64]

    @property
    def last_index(self) -> int:
        return self.first_index + len(self.masses) - 1

    @property
    def values(self) -> NDArray[np.float64]:
        return (self.first_index + np.arange(len(self.masses), dtype=np.float64)) * self.step

    def mean(self) -> float:
        return float(np.dot(self.values, self.masses) / self.masses.sum())


def point_mass_at_zero(step: float) -> Lattice:
    """The demand over zero periods: all mass at 0."""
    return Lattice(0, step, np.ones(1))


def is_frozen_distribution(demand: Any) -> bool:
    """True for a frozen ``scipy.stats`` distribution or an ``rv_discrete(values=...)`` pmf."""
    if isinstance(demand, stats.rv_discrete) and hasattr(demand, "xk"):
        return True
    return isinstance(getattr(demand, "dist", None), stats.rv_continuous | stats.rv_discrete)


def is_normal(demand: Any) -> bool:
    return isinstance(getattr(demand, "dist", None), stats.rv_continuous) and (
        demand.dist.name == "norm"
    )


def is_poisson(demand: Any) -> bool:
    return isinstance(getattr(demand, "dist", None), stats.rv_discrete) and (
        demand.dist.name == "poisson"
    )


def as_samples(demand: Any) -> NDArray[np.float64] | None:
    """The demand as a 1-D float array of samples, or None if it is a distribution."""
    if is_frozen_distribution(demand):
        return None
    samples = np.asarray(demand, dtype=float)
    if samples.ndim != 1 or samples.size == 0:
        raise ValueError(
            f"demand must be a frozen scipy.stats distribution or a non-empty 1-D array of "
            f"samples; got an array of shape {samples.shape}"
        )
    if not np.all(np.isfinite(samples)):
        raise ValueError(f"demand samples must be finite; got {samples[~np.isfinite(samples)]}")
    return samples


def is_integer_valued(demand: Any) -> bool:
    """True when every possible demand value is an integer (so levels may be integers)."""
    samples = as_samples(demand)
    if samples is not None:
        return bool(np.all(samples == np.round(samples)))
    if isinstance(demand, stats.rv_discrete):  # rv_discrete(values=...)
        return bool(np.all(np.asarray(demand.xk) == np.round(demand.xk)))
    dist = demand.dist
    if isinstance(dist, stats.rv_discrete):
        xk = getattr(dist, "xk", None)
        return xk is None or bool(np.all(np.asarray(xk) == np.round(xk)))
    return False


def one_period_moments(demand: Any) -> tuple[float, float]:
    """Mean and standard deviation of one period's demand."""
    samples = as_samples(demand)
    if samples is not None:
        return float(samples.mean()), float(samples.std())
    return float(demand.mean()), float(demand.std())


def _trim(first_index: int, masses: NDArray[np.float64], step: float) -> Lattice:
    """Clip FFT noise and drop negligible masses at both ends."""
    masses = np.clip(masses, 0.0, None)
    keep = np.flatnonzero(masses > TAIL_PROBABILITY * 1e-3)
    if keep.size == 0:
        raise ValueError("demand lattice lost all its mass; is the distribution degenerate?")
    lo, hi = int(keep[0]), int(keep[-1])
    return Lattice(first_index + lo, step, masses[lo : hi + 1].copy())


def convolve(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """Full linear convolution through the real FFT (exact up to rounding, O(n log n))."""
    n = len(a) + len(b) - 1
    if min(len(a), len(b)) <= 64:  # direct sum is faster and exact for short kernels
        return np.convolve(a, b)
    size = fft.next_fast_len(n, real=True)
    return fft.irfft(fft.rfft(a, size) * fft.rfft(b, size), size)[:n]


def _add(x: Lattice, y: Lattice) -> Lattice:
    """Distribution of the sum of independent ``x`` and ``y`` on the same lattice."""
    return _trim(x.first_index + y.first_index, convolve(x.masses, y.masses), x.step)


def _power(one_period: Lattice, periods: int) -> Lattice:
    """Distribution of the sum of ``periods`` independent copies (binary exponentiation)."""
    result = point_mass_at_zero(one_period.step)
    base = one_period
    while periods > 0:
        if periods & 1:
            result = _add(result, base)
        periods >>= 1
        if periods:
            base = _add(base, base)
    return result


def _integer_pmf(demand: Any) -> Lattice:
    """One period's pmf on the integers."""
    samples = as_samples(demand)
    if samples is not None:
        integers = np.round(samples).astype(np.int64)
        lo = int(integers.min())
        counts = np.bincount(integers - lo).astype(float)
        return Lattice(lo, 1.0, counts / counts.sum())
    if isinstance(demand, stats.rv_discrete):  # rv_discrete(values=...): use its own support
        xk = np.round(np.asarray(demand.xk)).astype(np.int64)
        lo = int(xk.min())
        masses = np.zeros(int(xk.max()) - lo + 1)
        np.add.at(masses, xk - lo, np.asarray(demand.pk, dtype=float))
        return Lattice(lo, 1.0, masses)
    low, high = demand.support()
    lo = int(low) if np.isfinite(low) else int(demand.ppf(TAIL_PROBABILITY))
    hi = int(high) if np.isfinite(high) else int(demand.isf(TAIL_PROBABILITY)) + 1
    points = np.arange(lo, hi + 1)
    return _trim(lo, np.asarray(demand.pmf(points), dtype=float), 1.0)


def _binned_continuous(demand: Any, step: float) -> Lattice:
    """One period's continuous distribution binned into cells of width ``step``."""
    low, high = demand.support()
    low = low if np.isfinite(low) else demand.ppf(TAIL_PROBABILITY)
    high = high if np.isfinite(high) else demand.isf(TAIL_PROBABILITY)
    lo = int(np.floor(low / step))
    hi = int(np.ceil(high / step))
    edges = (np.arange(lo, hi + 2) - 0.5) * step
    return _trim(lo, np.diff(demand.cdf(edges)), step)


def lead_time_demand(demand: Any, periods: int, step: float) -> Lattice:
    """Distribution of the total demand over ``periods`` periods, on the lattice ``k * step``.

    ``step`` must be 1 for integer-valued demand.
    """
    if periods < 0 or int(periods) != periods:
        raise ValueError(f"periods must be a non-negative integer; got {periods!r}")
    periods = int(periods)
    if periods == 0:
        return point_mass_at_zero(step)
    if is_normal(demand):
        mean = periods * float(demand.mean())
        sd = np.sqrt(periods) * float(demand.std())
        if sd == 0.0:
            return Lattice(round(mean / step), step, np.ones(1))
        lo = int(np.floor((mean - _NORMAL_TAIL_Z * sd) / step))
        hi = int(np.ceil((mean + _NORMAL_TAIL_Z * sd) / step))
        edges = ((np.arange(lo, hi + 2) - 0.5) * step - mean) / sd
        return Lattice(lo, step, np.diff(special.ndtr(edges)))
    if is_poisson(demand):
        rate = periods * float(demand.mean())
        ltd = stats.poisson(rate)
        hi = int(ltd.isf(TAIL_PROBABILITY)) + 1
        return _trim(0, ltd.pmf(np.arange(hi + 1)), 1.0)
    if is_integer_valued(demand):
        if step != 1.0:
            raise ValueError(f"integer-valued demand needs step 1; got {step}")
        return _power(_integer_pmf(demand), periods)
    if as_samples(demand) is not None:
        raise ValueError(
            f"demand samples must be integers to be summed over {periods} periods exactly; round "
            "them, or pass samples of the whole lead-time demand, or a frozen scipy.stats "
            "distribution"
        )
    return _power(_binned_continuous(demand, step), periods)
