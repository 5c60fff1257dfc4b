"""Probability distributions as small value objects.

Each distribution is a frozen dataclass with ``sample(rng, size)``, ``mean`` and ``variance``, and a
``repr`` that pastes back into scenario YAML (``{dist: poisson, mean: 5}``). They are used for
customer demand per period and for lead times per shipment, so every one of them yields
non-negative values; truncation is in the name (:class:`TruncatedNormal`), never silent, with one
documented exception (:class:`Normal`, see there).

``from_spec`` builds one from the mapping written in YAML and raises ``ValueError`` naming the bad
field and value; :mod:`twin.scenario.load` turns that into a ``ScenarioError`` with the YAML path.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any, ClassVar

import numpy as np

__all__ = [
    "Constant",
    "Distribution",
    "Empirical",
    "Gamma",
    "LogNormal",
    "Merton",
    "NegativeBinomial",
    "Normal",
    "Poisson",
    "TruncatedNormal",
    "Uniform",
    "UniformInt",
    "from_spec",
    "KINDS",
]


@dataclass(frozen=True)
class Distribution:
    """Base class. Subclasses set ``kind`` (the YAML tag) and implement ``_draw``."""

    kind: ClassVar[str] = ""

    def sample(self, rng: np.random.Generator, size: int | None = None) -> Any:
        """Draw ``size`` values (a float array) or one float when ``size`` is None."""
        if size is None:
            return float(self._draw(rng, 1)[0])
        return self._draw(rng, size)

    def _draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        raise NotImplementedError

    @property
    def mean(self) -> float:
        raise NotImplementedError

    @property
    def variance(self) -> float:
        raise NotImplementedError

    @property
    def is_integer(self) -> bool:
        """True when every value drawn is a whole number."""
        return False

    @property
    def upper(self) -> float:
        """The largest value a draw can take (``math.inf`` for an unbounded law)."""
        return math.inf

    def to_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"dist": self.kind}
        for key, value in asdict(self).items():
            spec[key] = list(value) if isinstance(value, tuple) else value
        return spec

    def __repr__(self) -> str:
        body = ", ".join(f"{k}: {v}" for k, v in self.to_spec().items())
        return "{" + body + "}"


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


@dataclass(frozen=True, repr=False)
class Constant(Distribution):
    """Always ``value`` (``value >= 0``)."""

    kind: ClassVar[str] = "constant"
    value: float

    def __post_init__(self) -> None:
        _require(
            math.isfinite(self.value) and self.value >= 0,
            f"value must be a finite number >= 0, got {self.value!r}",
        )

    def _draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return np.full(size, float(self.value))

    @property
    def upper(self) -> float:
        return float(self.value)

    @property
    def mean(self) -> float:
        return float(self.value)

    @property
    def variance(self) -> float:
        return 0.0

    @property
    def is_integer(self) -> bool:
        return float(self.value).is_integer()


@dataclass(frozen=True, repr=False)
class Uniform(Distribution):
    """Continuous uniform on ``[low, high)``."""

    kind: ClassVar[str] = "uniform"
    low: float
    high: float

    def __post_init__(self) -> None:
        _require(
            0 <= self.low <= self.high,
            f"needs 0 <= low <= high, got low={self.low!r}, high={self.high!r}",
        )

    def _draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.uniform(self.low, self.high, size)

    @property
    def upper(self) -> float:
        return float(self.high)

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2

    @property
    def variance(self) -> float:
        return (self.high - self.low) ** 2 / 12


@dataclass(frozen=True, repr=False)
class UniformInt(Distribution):
    """Discrete uniform on the integers ``low, ..., high`` (both included)."""

    kind: ClassVar[str] = "uniform_int"
    low: int
    high: int

    def __post_init__(self) -> None:
        _require(
            float(self.low).is_integer() and float(self.high).is_integer(),
            f"low and high must be integers, got low={self.low!r}, high={self.high!r}",
        )
        _require(
            0 <= self.low <= self.high,
            f"needs 0 <= low <= high, got low={self.low!r}, high={self.high!r}",
        )

    def _draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.integers(int(self.low), int(self.high) + 1, size).astype(float)

    @property
    def upper(self) -> float:
        return float(self.high)

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2

    @property
    def variance(self) -> float:
        return ((self.high - self.low + 1) ** 2 - 1) / 12

    @property
    def is_integer(self) -> bool:
        return True


@dataclass(frozen=True, repr=False)
class Normal(Distribution):
    """Normal(mean, sd), for quantities that are non-negative in practice.

    Validation requires ``mean >= 4 sd`` so that P(X < 0) < 3.2e-5; the rare negative draw is set
    to 0 (this is the one clip in this module, documented here). For anything closer to zero use
    :class:`TruncatedNormal`, whose moments account for the truncation.
    """

    kind: ClassVar[str] = "normal"
    mean_: float
    sd: float

    def __post_init__(self) -> None:
        _require(self.sd >= 0, f"sd must be >= 0, got {self.sd!r}")
        _require(
            self.mean_ >= 4 * self.sd,
            f"normal needs mean >= 4*sd so that negative values are negligible, got "
            f"mean={self.mean_!r}, sd={self.sd!r}; use dist: truncated_normal instead",
        )

    def _draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return np.maximum(rng.normal(self.mean_, self.sd, size), 0.0)

    @property
    def mean(self) -> float:
        return float(self.mean_)

    @property
    def variance(self) -> float:
        return float(self.sd) ** 2

    def to_spec(self) -> dict[str, Any]:
        return {"dist": self.kind, "mean": self.mean_, "sd": self.sd}


@dataclass(frozen=True, repr=False)
class TruncatedNormal(Distribution):
    """Normal(loc, scale) conditioned on ``low <= X <= high`` (default ``low = 0``).

    ``mean`` and ``variance`` are those of the truncated law (Johnson, Kotz & Balakrishnan,
    *Continuous Univariate Distributions* vol. 1, sec. 10.1). Sampling is by rejection, so the
    interval must carry at least 0.1 % of the parent's probability.
    """

    kind: ClassVar[str] = "truncated_normal"
    loc: float
    scale: float
    low: float = 0.0
    high: float = math.inf

    def __post_init__(self) -> None:
        _require(self.scale > 0, f"scale must be > 0, got {self.scale!r}")
        _require(
            0 <= self.low < self.high, f"needs 0 <= low < high, got low={self.low!r}, high={self.high!r}"
        )
        _require(
            self._mass > 1e-3,
            f"[low, high] = [{self.low}, {self.high}] has no probability under "
            f"Normal({self.loc}, {self.scale})",
        )

    @property
    def _alpha(self) -> float:
        return (self.low - self.loc) / self.scale

    @property
    def _beta(self) -> float:
        return (self.high - self.loc) / self.scale

    @property
    def _mass(self) -> float:
        return _norm_cdf(self._beta) - _norm_cdf(self._alpha)

    def _draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        # Rejection from the parent normal, in vectorised rounds (validation bounds the mass away
        # from zero, so the expected number of rounds is about 1 / mass).
        out = np.empty(size)
        filled = 0
        while filled < size:
            batch = max(16, int(1.2 * (size - filled) / self._mass))
            x = rng.normal(self.loc, self.scale, batch)
            x = x[(x >= self.low) & (x <= self.high)][: size - filled]
            out[filled : filled + x.size] = x
            filled += x.size
        return out

    @property
    def upper(self) -> float:
        return float(self.high)

    @property
    def mean(self) -> float:
        a, b, z = self._alpha, self._beta, self._mass
        return self.loc + self.scale * (_norm_pdf(a) - _norm_pdf(b)) / z

    @property
    def variance(self) -> float:
        a, b, z = self._alpha, self._beta, self._mass
        pa, pb = _norm_pdf(a), _norm_pdf(b)
        ta = a * pa if math.isfinite(a) else 0.0
        tb = b * pb if math.isfinite(b) else 0.0
        return self.scale**2 * (1 + (ta - tb) / z - ((pa - pb) / z) ** 2)


@dataclass(frozen=True, repr=False)
class Poisson(Distribution):
    """Poisson with the given mean."""

    kind: ClassVar[str] = "poisson"
    mean_: float

    def __post_init__(self) -> None:
        _require(
            math.isfinite(self.mean_) and self.mean_ >= 0,
            f"mean must be a finite number >= 0, got {self.mean_!r}",
        )

    def _draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.poisson(self.mean_, size).astype(float)

    @property
    def mean(self) -> float:
        return float(self.mean_)

    @property
    def variance(self) -> float:
        return float(self.mean_)

    @property
    def is_integer(self) -> bool:
        return True

    def to_spec(self) -> dict[str, Any]:
        return {"dist": self.kind, "mean": self.mean_}


@dataclass(frozen=True, repr=False)
class NegativeBinomial(Distribution):
    """Number of failures before ``n`` successes with success probability ``p`` (numpy's form).

    Mean ``n(1-p)/p``, variance ``n(1-p)/p^2``: an over-dispersed alternative to Poisson.
    """

    kind: ClassVar[str] = "negative_binomial"
    n: float
    p: float

    def __post_init__(self) -> None:
        _require(self.n > 0, f"n must be > 0, got {self.n!r}")
        _require(0 < self.p <= 1, f"p must be in (0, 1], got {self.p!r}")

    def _draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.negative_binomial(self.n, self.p, size).astype(float)

    @property
    def mean(self) -> float:
        return self.n * (1 - self.p) / self.p

    @property
    def variance(self) -> float:
        return self.n * (1 - self.p) / self.p**2

    @property
    def is_integer(self) -> bool:
        return True


@dataclass(frozen=True, repr=False)
class Gamma(Distribution):
    """Gamma(shape k, scale theta): mean ``k theta``, variance ``k theta^2``."""

    kind: ClassVar[str] = "gamma"
    shape: float
    scale: float

    def __post_init__(self) -> None:
        _require(self.shape > 0, f"shape must be > 0, got {self.shape!r}")
        _require(self.scale > 0, f"scale must be > 0, got {self.scale!r}")

    def _draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.gamma(self.shape, self.scale, size)

    @property
    def mean(self) -> float:
        return self.shape * self.scale

    @property
    def variance(self) -> float:
        return self.shape * self.scale**2


@dataclass(frozen=True, repr=False)
class LogNormal(Distribution):
    """exp(N(log_mean, log_sd)): ``log_mean`` and ``log_sd`` are those of log X."""

    kind: ClassVar[str] = "lognormal"
    log_mean: float
    log_sd: float

    def __post_init__(self) -> None:
        _require(self.log_sd >= 0, f"log_sd must be >= 0, got {self.log_sd!r}")

    def _draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.lognormal(self.log_mean, self.log_sd, size)

    @property
    def mean(self) -> float:
        return math.exp(self.log_mean + self.log_sd**2 / 2)

    @property
    def variance(self) -> float:
        s2 = self.log_sd**2
        return (math.exp(s2) - 1) * math.exp(2 * self.log_mean + s2)


@dataclass(frozen=True, repr=False)
class Empirical(Distribution):
    """Finite distribution on ``values`` with ``probabilities`` (equal weights when omitted)."""

    kind: ClassVar[str] = "empirical"
    values: tuple[float, ...]
    probabilities: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        _require(len(self.values) > 0, "values must not be empty")
        _require(
            all(math.isfinite(v) and v >= 0 for v in self.values),
            f"values must be finite and >= 0, got {list(self.values)!r}",
        )
        if self.probabilities is not None:
            _require(
                len(self.probabilities) == len(self.values),
                f"probabilities has {len(self.probabilities)} entries but values has {len(self.values)}",
            )
            _require(
                all(p >= 0 for p in self.probabilities) and abs(sum(self.probabilities) - 1) < 1e-9,
                f"probabilities must be >= 0 and sum to 1, got {list(self.probabilities)!r}",
            )

    def _weights(self) -> np.ndarray:
        n = len(self.values)
        return np.full(n, 1 / n) if self.probabilities is None else np.asarray(self.probabilities)

    def _draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.choice(np.asarray(self.values, dtype=float), size=size, p=self._weights())

    @property
    def upper(self) -> float:
        return float(max(self.values))

    @property
    def mean(self) -> float:
        return float(np.dot(self.values, self._weights()))

    @property
    def variance(self) -> float:
        v, w = np.asarray(self.values, dtype=float), self._weights()
        return float(np.dot(w, (v - np.dot(v, w)) ** 2))

    @property
    def is_integer(self) -> bool:
        return all(float(v).is_integer() for v in self.values)

    def to_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"dist": self.kind, "values": list(self.values)}
        if self.probabilities is not None:
            spec["probabilities"] = list(self.probabilities)
        return spec


@dataclass(frozen=True, repr=False)
class Merton(Distribution):
    """Liu et al.'s Merton jump-diffusion demand: one path per draw of ``size`` periods.

    The log-demand ``X`` is a random walk from ``X_0 = 0``: each period it moves by a Gaussian
    diffusion step of sd ``diffusion_sd`` (their 0.01 * sqrt(15)) plus ``N ~ Poisson(jump_rate)``
    Gaussian jumps, together Normal(0, ``jump_sd`` * sqrt(N)) (their 0.01 * N(0, 2) * sqrt(N)).
    Demand is ``int(base * exp(X))``; a path (``X_0 .. X_size``, as their generator draws one
    more value than it uses) is redrawn until its mean is in ``(0, maximum)``, then clipped to
    ``maximum``, and its first ``size`` values are the draw. The values of one draw are therefore
    a path, not independent; ``mean`` and ``variance`` (over periods and paths) are estimated by
    simulation of 400 paths of 200 periods with a fixed seed.

    Source: Liu et al., "Multi-agent deep reinforcement learning for multi-echelon inventory
    management" (SSRN 4262186), code ``envs/generator.py`` (``merton``), with ``max_demand`` 20.
    """

    kind: ClassVar[str] = "merton"
    base: float = 10.0
    maximum: float = 20.0
    diffusion_sd: float = 0.01 * math.sqrt(15.0)
    jump_rate: float = 15.0
    jump_sd: float = 0.02

    def __post_init__(self) -> None:
        _require(math.isfinite(self.base) and self.base > 0, f"base must be > 0, got {self.base!r}")
        _require(
            math.isfinite(self.maximum) and self.maximum > 0,
            f"maximum must be > 0, got {self.maximum!r}",
        )
        for name in ("diffusion_sd", "jump_rate", "jump_sd"):
            value = getattr(self, name)
            _require(
                math.isfinite(value) and value >= 0,
                f"{name} must be a finite number >= 0, got {value!r}",
            )

    def _draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        for _ in range(10_000):
            steps = self.diffusion_sd * rng.standard_normal(size)
            jumps = rng.poisson(self.jump_rate, size)
            steps += self.jump_sd * np.sqrt(jumps) * rng.standard_normal(size)
            log_demand = np.concatenate(([0.0], np.cumsum(steps)))
            path = np.floor(self.base * np.exp(log_demand))
            if 0.0 < path.mean() < self.maximum:
                return np.minimum(path, self.maximum)[:size]
        raise ValueError(
            f"merton: no path with mean in (0, {self.maximum}) in 10000 draws; "
            f"check base={self.base} and maximum={self.maximum}"
        )

    def _moments(self) -> tuple[float, float]:
        cached = self.__dict__.get("_cached_moments")
        if cached is None:
            rng = np.random.default_rng(20221026)
            values = np.concatenate([self._draw(rng, 200) for _ in range(400)])
            cached = (float(values.mean()), float(values.var()))
            self.__dict__["_cached_moments"] = cached
        return cached

    @property
    def upper(self) -> float:
        return float(self.maximum)

    @property
    def mean(self) -> float:
        return self._moments()[0]

    @property
    def variance(self) -> float:
        return self._moments()[1]

    @property
    def is_integer(self) -> bool:
        return float(self.maximum).is_integer()


def _norm_pdf(x: float) -> float:
    return 0.0 if math.isinf(x) else math.exp(-x * x / 2) / math.sqrt(2 * math.pi)


def _norm_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2))


KINDS: dict[str, type[Distribution]] = {
    cls.kind: cls
    for cls in (
        Constant,
        Uniform,
        UniformInt,
        Normal,
        TruncatedNormal,
        Poisson,
        NegativeBinomial,
        Gamma,
        LogNormal,
        Empirical,
        Merton,
    )
}

# YAML names that differ from the dataclass field (``mean`` is a property on every distribution).
_FIELD_ALIASES = {"mean": "mean_"}


def from_spec(spec: Any) -> Distribution:
    """Build a distribution from its YAML mapping, e.g. ``{"dist": "poisson", "mean": 5}``.

    A bare number is a :class:`Constant`. Raises ``ValueError`` naming the bad field and value.
    """
    if isinstance(spec, Distribution):
        return spec
    if isinstance(spec, bool):
        raise ValueError(f"expected a number or a mapping with 'dist', got {spec!r}")
    if isinstance(spec, int | float):
        return Constant(float(spec))
    if not isinstance(spec, dict):
        raise ValueError(f"expected a number or a mapping with 'dist', got {spec!r}")
    if "dist" not in spec:
        raise ValueError(f"missing 'dist' (one of {', '.join(KINDS)}) in {spec!r}")
    kind = spec["dist"]
    if not isinstance(kind, str) or kind not in KINDS:
        import difflib

        close = difflib.get_close_matches(str(kind), list(KINDS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; choose one of {', '.join(KINDS)}"
        raise ValueError(f"unknown dist {kind!r}{hint}")
    cls = KINDS[kind]
    names = {f.name for f in fields(cls)}
    sequences = {f.name for f in fields(cls) if "tuple" in str(f.type)}
    required = {f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING}
    kwargs: dict[str, Any] = {}
    for key, value in spec.items():
        if key == "dist":
            continue
        name = _FIELD_ALIASES.get(key, key) if _FIELD_ALIASES.get(key) in names else key
        if name not in names:
            allowed = sorted(_public(n) for n in names)
            raise ValueError(f"{kind}: unknown parameter {key!r}; expected {', '.join(allowed)}")
        if isinstance(value, list):
            value = tuple(value)
        if (
            isinstance(value, bool)
            or not _is_number_or_numbers(value)
            or (isinstance(value, tuple) != (name in sequences))
        ):
            what = "a list of numbers" if name in sequences else "a number"
            raise ValueError(f"{kind}: {key} must be {what}, got {value!r}")
        kwargs[name] = value
    missing = sorted(_public(n) for n in required - kwargs.keys())
    if missing:
        raise ValueError(f"{kind}: missing parameter(s) {', '.join(missing)}")
    try:
        return cls(**kwargs)
    except ValueError as exc:
        raise ValueError(f"{kind}: {exc}") from None


def _public(name: str) -> str:
    return "mean" if name == "mean_" else name


def _is_number_or_numbers(value: Any) -> bool:
    if isinstance(value, tuple):
        return all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    return isinstance(value, int | float)
