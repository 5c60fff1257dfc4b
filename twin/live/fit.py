"""Fitting the shipped distributions to history: demand per period, lead times per shipment.

**Demand** ``y_t`` of one node over periods ``t`` (counted from the scenario's period 0) is modelled
as the twin draws it (:mod:`entities.demand`): ``y_t = X_t m_t`` with ``X_t`` from a base family and
``m_t = max(0, 1 + b t) (1 + a sin(2 pi (t - phase) / P))`` a trend and a weekly season (``P`` = 7
days in periods), rounded stochastically when the base is integer-valued. The fit has two stages:

1. the multipliers: for each set of effects (none, trend, season, both) the mean model
   ``E[y_t] = mu m_t`` is fitted by Poisson quasi-likelihood (consistent whatever the family;
   ``mu`` profiled out, ``a sin + c cos`` for the season, so a smooth optimisation in 1-3 numbers);
2. the family: with ``m_t`` fixed, each candidate family's parameters by exact maximum likelihood
   (integer data: ``poisson``, ``negative_binomial``, and ``empirical`` without effects, with the
   stochastic rounding of ``X_t m_t`` in the likelihood; other data: ``normal`` (or
   ``truncated_normal`` where a normal would reach below zero), ``gamma``, ``lognormal`` on
   ``y_t / m_t``, with the Jacobian).

Effects are kept where a likelihood-ratio test at level 1 % supports them (season: 2 degrees of
freedom, trend: 1, each against the model with the other effect, under the family the full model
prefers); then the family with the smallest AIC is chosen. The goodness of fit is reported as a
Kolmogorov-Smirnov test of the (randomised, for integer data) probability integral transform
``u_t = F_t(y_t)``, which is uniform when the model is right (Smith 1985; Dunn & Smyth 1996).

**Lead times** (whole periods, ``received - shipped``) are fitted among ``constant``,
``uniform_int``, ``poisson``, ``negative_binomial`` and ``empirical`` by BIC (or ``empirical``
alone), with a chi-square goodness-of-fit test. BIC rather than AIC: a lane's law shapes every
shipment of the twin, and BIC picks the true family as the data grow where AIC keeps a fixed
chance of an extra parameter (an over-dispersed law for Poisson lead times, say).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import optimize, special, stats

from entities.distributions import Distribution, from_spec

WEEK_DAYS = 7
LEVEL = 0.01
"""Significance level of the likelihood-ratio tests of demand effects."""
EFFECT_SETS: tuple[tuple[str, ...], ...] = ((), ("trend",), ("season",), ("trend", "season"))
DISCRETE_FAMILIES = ("poisson", "negative_binomial", "empirical")
CONTINUOUS_FAMILIES = ("normal", "gamma", "lognormal")
LEAD_TIME_FAMILIES = ("constant", "uniform_int", "poisson", "negative_binomial", "empirical")


# --------------------------------------------------------------------------------------------------
# Stage 1: the mean model (multipliers) by Poisson quasi-likelihood.


@dataclass(frozen=True)
class MeanModel:
    """``E[y_t] = mu m_t``: the effects, their parameters and the quasi-log-likelihood."""

    effects: tuple[str, ...]
    mu: float
    trend: float = 0.0
    sin: float = 0.0
    cos: float = 0.0
    season_period: float = WEEK_DAYS
    quasi_loglik: float = 0.0

    def multipliers(self, t: np.ndarray) -> np.ndarray:
        m = np.maximum(0.0, 1.0 + self.trend * t)
        if "season" in self.effects:
            w = 2.0 * math.pi / self.season_period
            m = m * (1.0 + self.sin * np.sin(w * t) + self.cos * np.cos(w * t))
        return m

    @property
    def amplitude(self) -> float:
        return math.hypot(self.sin, self.cos)

    @property
    def phase(self) -> float:
        """``phase`` of ``amplitude * sin(2 pi (t - phase) / P)`` (in [0, P))."""
        w = 2.0 * math.pi / self.season_period
        return (math.atan2(-self.cos, self.sin) / w) % self.season_period

    def to_effects(self) -> dict[str, Any] | None:
        """The scenario's ``demand_effects`` (None without effects)."""
        if not self.effects:
            return None
        out: dict[str, Any] = {}
        if "trend" in self.effects:
            out["trend"] = float(self.trend)
        if "season" in self.effects:
            out["seasonality"] = {
                "period": float(self.season_period),
                "amplitude": float(min(self.amplitude, 1.0)),
                "phase": float(self.phase),
            }
        return out


def fit_mean(
    y: np.ndarray, t: np.ndarray, effects: tuple[str, ...], season_period: float = WEEK_DAYS
) -> MeanModel:
    """Fit ``E[y_t] = mu m_t`` with the given effects by Poisson quasi-likelihood."""
    total = float(y.sum())
    if not effects or total <= 0.0:
        mu = total / len(y)
        ll = float(np.sum(special.xlogy(y, mu)) - mu * len(y)) if mu > 0 else 0.0
        return MeanModel((), mu, season_period=season_period, quasi_loglik=ll)
    w = 2.0 * math.pi / season_period
    sin_t, cos_t = np.sin(w * t), np.cos(w * t)
    use_trend, use_season = "trend" in effects, "season" in effects
    t_max = float(max(np.max(t), 1.0))

    def unpack(x: np.ndarray) -> tuple[float, float, float]:
        k = 0
        trend = sin = cos = 0.0
        if use_trend:  # optimised as the relative change over the history (scaled like the season)
            trend, k = float(x[0]) / t_max, 1
        if use_season:
            sin, cos = float(x[k]), float(x[k + 1])
        return trend, sin, cos

    def multipliers(x: np.ndarray) -> np.ndarray:
        trend, sin, cos = unpack(x)
        m = 1.0 + trend * t
        if use_season:
            m = m * (1.0 + sin * sin_t + cos * cos_t)
        return np.maximum(m, 1e-12)

    def negative(x: np.ndarray) -> float:
        m = multipliers(x)
        return float(total * math.log(m.sum()) - np.dot(y, np.log(m)))

    bounds = ([(-0.99, 10.0)] if use_trend else []) + ([(-0.99, 0.99)] * 2 if use_season else [])
    start = np.zeros(len(bounds))
    result = optimize.minimize(
        negative, start, method="SLSQP", bounds=bounds, options={"ftol": 1e-12, "maxiter": 200}
    )
    trend, sin, cos = unpack(result.x)
    m = multipliers(result.x)
    mu = total / float(m.sum())
    ll = float(np.sum(special.xlogy(y, mu * m)) - mu * m.sum())
    return MeanModel(effects, mu, trend, sin, cos, season_period, ll)


# --------------------------------------------------------------------------------------------------
# Stage 2: families given the multipliers.


@dataclass(frozen=True)
class FamilyFit:
    """A family's maximum-likelihood fit: the distribution, its log-likelihood and parameters."""

    family: str
    spec: dict[str, Any]
    loglik: float
    parameters: int

    @property
    def distribution(self) -> Distribution:
        return from_spec(self.spec)


class _Rounding:
    """``P(Y_t = y_t | X_t = x)`` for ``Y_t`` = ``X_t m_t`` rounded stochastically: the integer
    ``x`` values that can give ``y_t`` (at most a few per period), with their weights."""

    def __init__(self, y: np.ndarray, m: np.ndarray) -> None:
        rows, xs, ws = [], [], []
        for i, (yi, mi) in enumerate(zip(y.tolist(), m.tolist(), strict=True)):
            if mi <= 1e-12:
                continue  # demand forced to 0: P(Y = 0) = 1 (y must then be 0)
            lo, hi = max(0, math.ceil((yi - 1) / mi) - 1), math.floor((yi + 1) / mi) + 1
            for x in range(lo, hi + 1):
                v = mi * x
                whole = math.floor(v)
                frac = v - whole
                weight = (1.0 - frac) if whole == yi else frac if whole + 1 == yi else 0.0
                if weight > 0.0:
                    rows.append(i)
                    xs.append(x)
                    ws.append(weight)
        self.n = len(y)
        self.rows = np.asarray(rows, dtype=np.intp)
        self.x = np.asarray(xs, dtype=float)
        self.w = np.asarray(ws, dtype=float)
        self.forced = (m <= 1e-12) & (y == 0)
        self.impossible = bool(np.any((m <= 1e-12) & (y > 0)))

    def loglik(self, pmf: np.ndarray) -> float:
        """``sum_t log P(Y_t = y_t)`` given the base pmf evaluated at ``self.x``."""
        if self.impossible:
            return -math.inf
        p = np.bincount(self.rows, weights=self.w * pmf, minlength=self.n)
        p[self.forced] = 1.0
        if np.any(p <= 0.0):
            return -math.inf
        return float(np.sum(np.log(p)))


def _poisson_logpmf(x: np.ndarray, mean: float) -> np.ndarray:
    return stats.poisson.logpmf(x, mean)


def _nbinom_logpmf(x: np.ndarray, n: float, mean: float) -> np.ndarray:
    return stats.nbinom.logpmf(x, n, n / (n + mean))


def fit_discrete(y: np.ndarray, m: np.ndarray | None, family: str) -> FamilyFit | None:
    """Maximum-likelihood fit of an integer family to ``y_t = round(X_t m_t)`` (``m`` None: 1)."""
    rounding = None if m is None else _Rounding(y, m)
    scale = 1.0 if m is None else float(np.mean(m))
    mean0 = max(float(np.mean(y)) / max(scale, 1e-12), 1e-6)

    def loglik(logpmf: Any) -> float:
        if rounding is None:
            return float(np.sum(logpmf(y)))
        return rounding.loglik(np.exp(logpmf(rounding.x)))

    if family == "poisson":
        result = optimize.minimize_scalar(
            lambda lm: -loglik(lambda x: _poisson_logpmf(x, math.exp(lm))),
            bounds=(math.log(mean0) - 3.0, math.log(mean0) + 3.0),
            method="bounded",
            options={"xatol": 1e-10},
        )
        mean = math.exp(result.x) if rounding is not None else float(np.mean(y))
        ll = loglik(lambda x: _poisson_logpmf(x, mean))
        return FamilyFit("poisson", {"dist": "poisson", "mean": mean}, ll, 1)
    if family == "negative_binomial":
        var0 = float(np.var(y)) / max(scale, 1e-12) ** 2
        n0 = mean0**2 / (var0 - mean0) if var0 > mean0 * 1.01 else 100.0

        def negative(v: np.ndarray) -> float:
            ll = loglik(lambda x: _nbinom_logpmf(x, math.exp(v[0]), math.exp(v[1])))
            return -ll if math.isfinite(ll) else 1e300

        result = optimize.minimize(
            negative,
            np.array([math.log(max(n0, 1e-3)), math.log(mean0)]),
            method="SLSQP",
            bounds=[(math.log(1e-3), math.log(1e6)), (math.log(mean0) - 3.0, math.log(mean0) + 3.0)],
            options={"ftol": 1e-12, "maxiter": 200},
        )
        n, mean = math.exp(result.x[0]), math.exp(result.x[1])
        return FamilyFit(
            "negative_binomial",
            {"dist": "negative_binomial", "n": n, "p": n / (n + mean)},
            -float(result.fun),
            2,
        )
    if family == "empirical":
        if m is not None:
            return None  # a base law on whole numbers is not observed through the multipliers
        values, counts = np.unique(y, return_counts=True)
        probabilities = counts / counts.sum()
        ll = float(np.sum(counts * np.log(probabilities)))
        return FamilyFit(
            "empirical",
            {
                "dist": "empirical",
                "values": [float(v) for v in values],
                "probabilities": _probabilities(probabilities),
            },
            ll,
            2 * len(values) - 1,  # the values and their probabilities
        )
    raise ValueError(f"not an integer family: {family!r}")


def _probabilities(p: np.ndarray) -> list[float]:
    """Probabilities that sum to 1 within the check of :class:`entities.distributions.Empirical`."""
    out = [float(v) for v in p]
    out[int(np.argmax(p))] += 1.0 - math.fsum(out)
    return out


def fit_continuous(y: np.ndarray, m: np.ndarray | None, family: str) -> FamilyFit | None:
    """Maximum-likelihood fit of a continuous family to ``y_t = X_t m_t`` (``m`` None: 1)."""
    mm = np.ones_like(y) if m is None else m
    if np.any(mm <= 0.0):
        return None
    z = y / mm
    jacobian = -float(np.sum(np.log(mm)))
    if family in ("normal", "truncated_normal"):
        mean, sd = float(np.mean(z)), float(np.std(z))
        if sd <= 0.0:
            return None
        if family == "normal":
            if mean < 4.0 * sd:
                return None  # the shipped normal needs mean >= 4 sd (else truncated_normal)
            ll = float(np.sum(stats.norm.logpdf(z, mean, sd))) + jacobian
            return FamilyFit("normal", {"dist": "normal", "mean": mean, "sd": sd}, ll, 2)

        def negative(v: np.ndarray) -> float:
            loc, scale = v[0], math.exp(v[1])
            mass = stats.norm.sf(0.0, loc, scale)
            if mass <= 1e-3:
                return 1e300
            return -float(np.sum(stats.norm.logpdf(z, loc, scale)) - len(z) * math.log(mass))

        result = optimize.minimize(negative, np.array([mean, math.log(sd)]), method="Nelder-Mead")
        loc, scale = float(result.x[0]), math.exp(float(result.x[1]))
        return FamilyFit(
            "truncated_normal",
            {"dist": "truncated_normal", "loc": loc, "scale": scale, "low": 0.0},
            -float(result.fun) + jacobian,
            2,
        )
    if np.any(z <= 0.0):
        return None  # gamma and lognormal have no mass at 0
    if family == "gamma":
        shape, _, scale = stats.gamma.fit(z, floc=0.0)
        ll = float(np.sum(stats.gamma.logpdf(z, shape, scale=scale))) + jacobian
        return FamilyFit("gamma", {"dist": "gamma", "shape": float(shape), "scale": float(scale)}, ll, 2)
    if family == "lognormal":
        logs = np.log(z)
        log_mean, log_sd = float(np.mean(logs)), float(np.std(logs))
        if log_sd <= 0.0:
            return None
        ll = float(np.sum(stats.lognorm.logpdf(z, log_sd, scale=math.exp(log_mean)))) + jacobian
        return FamilyFit(
            "lognormal", {"dist": "lognormal", "log_mean": log_mean, "log_sd": log_sd}, ll, 2
        )
    raise ValueError(f"not a continuous family: {family!r}")


# --------------------------------------------------------------------------------------------------
# Demand: effects, family, goodness of fit.


@dataclass(frozen=True)
class DemandFit:
    """The chosen model of one node's demand and the figures behind the choice."""

    fit: FamilyFit
    mean_model: MeanModel
    integer: bool
    observations: int
    candidates: dict[str, dict[str, float]]
    """``effects label -> family -> AIC`` of every model tried."""
    tests: dict[str, dict[str, float]]
    """``season``/``trend`` -> likelihood-ratio ``statistic``, ``df`` and ``p_value``."""
    ks_statistic: float
    ks_p_value: float
    base_mean_observed: float
    base_variance_observed: float

    @property
    def demand(self) -> dict[str, Any]:
        return self.fit.spec

    @property
    def effects(self) -> dict[str, Any] | None:
        return self.mean_model.to_effects()

    @property
    def aic(self) -> float:
        return (
            2.0 * (self.fit.parameters + _effect_parameters(self.mean_model.effects))
            - 2.0 * self.fit.loglik
        )

    def report(self) -> dict[str, Any]:
        d = self.fit.distribution
        return {
            "observations": self.observations,
            "integer": self.integer,
            "family": self.fit.family,
            "demand": self.fit.spec,
            "demand_effects": self.effects,
            "mean": d.mean,
            "variance": d.variance,
            "base_mean_observed": self.base_mean_observed,
            "base_variance_observed": self.base_variance_observed,
            "loglik": self.fit.loglik,
            "aic": self.aic,
            "aic_by_model": self.candidates,
            "effect_tests": self.tests,
            "ks_statistic": self.ks_statistic,
            "ks_p_value": self.ks_p_value,
        }


def _effect_parameters(effects: tuple[str, ...]) -> int:
    return ("trend" in effects) + 2 * ("season" in effects)


def _label(effects: tuple[str, ...]) -> str:
    return "+".join(effects) or "none"


def _fit_family(y: np.ndarray, m: np.ndarray | None, family: str, integer: bool) -> FamilyFit | None:
    if integer:
        return fit_discrete(y, m, family)
    fit = fit_continuous(y, m, family)
    if fit is None and family == "normal":
        return fit_continuous(y, m, "truncated_normal")
    return fit


def fit_demand(
    y: Sequence[float] | np.ndarray,
    t: Sequence[int] | np.ndarray,
    *,
    season_period: float | None = WEEK_DAYS,
    families: Sequence[str] | None = None,
    seed: int = 0,
) -> DemandFit:
    """Choose and fit the demand model of one series (see the module docstring).

    ``t`` are the periods of ``y`` counted from the scenario's period 0; ``season_period`` the
    weekly season in periods (None: no season, as with weekly periods).
    """
    y = np.asarray(y, dtype=float)
    t = np.asarray(t, dtype=float)
    if len(y) < 2:
        raise ValueError(f"needs at least 2 periods of demand, got {len(y)}")
    integer = bool(np.all(y == np.floor(y)))
    names = list(families or (DISCRETE_FAMILIES if integer else CONTINUOUS_FAMILIES))
    effect_sets = [e for e in EFFECT_SETS if season_period is not None or "season" not in e]
    if float(y.sum()) <= 0.0:
        effect_sets = [()]
    means = {e: fit_mean(y, t, e, season_period or WEEK_DAYS) for e in effect_sets}
    fits: dict[tuple[str, ...], dict[str, FamilyFit]] = {}
    for e, model in means.items():
        m = model.multipliers(t) if e else None
        fits[e] = {}
        for name in names:
            fit = _fit_family(y, m, name, integer)
            if fit is not None and math.isfinite(fit.loglik):
                fits[e][fit.family] = fit

    def aic(e: tuple[str, ...], fit: FamilyFit) -> float:
        return 2.0 * (fit.parameters + _effect_parameters(e)) - 2.0 * fit.loglik

    full = max(effect_sets, key=len)
    if not fits[full]:
        raise ValueError("no candidate family fits this demand")
    reference = min(fits[full].values(), key=lambda f: aic(full, f)).family
    tests: dict[str, dict[str, float]] = {}
    keep = set(full)
    for effect, df in (("season", 2), ("trend", 1)):
        if effect not in full:
            continue
        reduced = tuple(x for x in full if x != effect)
        if reference not in fits[reduced] or reference not in fits[full]:
            continue
        statistic = max(0.0, 2.0 * (fits[full][reference].loglik - fits[reduced][reference].loglik))
        p_value = float(stats.chi2.sf(statistic, df))
        tests[effect] = {"statistic": statistic, "df": df, "p_value": p_value}
        if p_value >= LEVEL:
            keep.discard(effect)
    chosen = tuple(x for x in full if x in keep)
    if not fits.get(chosen):
        chosen = ()
    best = min(fits[chosen].values(), key=lambda f: aic(chosen, f))
    mean_model = means[chosen]
    m = mean_model.multipliers(t) if chosen else np.ones_like(y)
    u = _pit(y, m, best, bool(chosen), integer, np.random.default_rng(seed))
    ks = stats.kstest(u, "uniform")
    z = y / np.where(m > 0, m, 1.0)
    return DemandFit(
        best,
        mean_model,
        integer,
        len(y),
        {_label(e): {f: aic(e, fit) for f, fit in fs.items()} for e, fs in fits.items()},
        tests,
        float(ks.statistic),
        float(ks.pvalue),
        float(np.mean(z)),
        float(np.var(z, ddof=1)),
    )


def _pit(
    y: np.ndarray, m: np.ndarray, fit: FamilyFit, effects: bool, integer: bool, rng: np.random.Generator
) -> np.ndarray:
    """Probability integral transform of each observation under the fitted model (randomised
    between ``F(y - 1)`` and ``F(y)`` for integer data)."""
    frozen = _scipy(fit.spec)
    if not integer:
        return np.clip(frozen.cdf(y / m), 0.0, 1.0)
    v = rng.random(len(y))
    if not effects:
        return np.clip(frozen.cdf(y - 1) + v * frozen.pmf(y), 0.0, 1.0)
    below = _rounded_cdf(frozen, y - 1, m)
    return np.clip(below + v * (_rounded_cdf(frozen, y, m) - below), 0.0, 1.0)


def _rounded_cdf(frozen: Any, k: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``P(round(m_t X) <= k_t)`` per period for the stochastic rounding of ``m_t X``.

    ``m x < k`` gives at most ``k`` after rounding (``x < ceil(k / m)``: the base's cdf); ``k <=
    m x < k + 1`` gives ``k`` with probability ``1 - frac(m x)``; larger ``x`` never.
    """
    safe = np.where(m > 1e-12, m, 1.0)
    first = np.ceil(k / safe)
    total = frozen.cdf(first - 1)
    for j in range(int(math.ceil(1.0 / float(safe.min()))) + 2):
        x = first + j
        value = safe * x
        whole = np.floor(value)
        total = total + np.where(
            whole == k, frozen.pmf(x) * (1.0 - (value - whole)), np.where(whole < k, frozen.pmf(x), 0.0)
        )
    total = np.where(m > 1e-12, total, 1.0)
    return np.clip(np.where(k < 0, 0.0, total), 0.0, 1.0)


def _scipy(spec: dict[str, Any]) -> Any:
    """The frozen scipy distribution of a shipped distribution spec."""
    kind = spec["dist"]
    if kind == "poisson":
        return stats.poisson(spec["mean"])
    if kind == "negative_binomial":
        return stats.nbinom(spec["n"], spec["p"])
    if kind == "normal":
        return stats.norm(spec["mean"], spec["sd"])
    if kind == "truncated_normal":
        a = (spec.get("low", 0.0) - spec["loc"]) / spec["scale"]
        return stats.truncnorm(a, math.inf, loc=spec["loc"], scale=spec["scale"])
    if kind == "gamma":
        return stats.gamma(spec["shape"], scale=spec["scale"])
    if kind == "lognormal":
        return stats.lognorm(spec["log_sd"], scale=math.exp(spec["log_mean"]))
    if kind == "empirical":
        values = np.asarray(spec["values"], dtype=float)
        return stats.rv_discrete(values=(values, spec["probabilities"]))
    if kind == "uniform_int":
        return stats.randint(spec["low"], spec["high"] + 1)
    if kind == "constant":
        return stats.rv_discrete(values=([spec["value"]], [1.0]))
    raise ValueError(f"no scipy counterpart for {kind!r}")


# --------------------------------------------------------------------------------------------------
# Lead times.


@dataclass(frozen=True)
class LeadTimeFit:
    """The chosen lead-time law of one lane and the figures behind the choice."""

    fit: FamilyFit
    observations: int
    bic_by_family: dict[str, float]
    chi2_statistic: float
    chi2_df: int
    chi2_p_value: float
    mean_observed: float
    variance_observed: float
    values: dict[int, int] = field(default_factory=dict)
    """Observed lead time (periods) -> number of shipments."""

    @property
    def lead_time(self) -> dict[str, Any]:
        return self.fit.spec

    def report(self) -> dict[str, Any]:
        d = self.fit.distribution
        return {
            "observations": self.observations,
            "family": self.fit.family,
            "lead_time": self.fit.spec,
            "mean": d.mean,
            "variance": d.variance,
            "mean_observed": self.mean_observed,
            "variance_observed": self.variance_observed,
            "loglik": self.fit.loglik,
            "bic_by_family": self.bic_by_family,
            "chi2_statistic": self.chi2_statistic,
            "chi2_df": self.chi2_df,
            "chi2_p_value": self.chi2_p_value,
            "observed": {str(k): v for k, v in sorted(self.values.items())},
        }


def _lead_time_candidate(x: np.ndarray, family: str) -> FamilyFit | None:
    low, high = int(x.min()), int(x.max())
    n = len(x)
    if family == "constant":
        if low != high:
            return None
        return FamilyFit("constant", {"dist": "constant", "value": float(low)}, 0.0, 0)
    if family == "uniform_int":
        if low == high:
            return None
        ll = -n * math.log(high - low + 1)
        return FamilyFit("uniform_int", {"dist": "uniform_int", "low": low, "high": high}, ll, 2)
    if family in ("poisson", "negative_binomial", "empirical"):
        if low == high:
            return None
        return fit_discrete(x, None, family)
    raise ValueError(f"not a lead-time family: {family!r}")


def fit_lead_time(lead_times: Sequence[float] | np.ndarray, *, mode: str = "fitted") -> LeadTimeFit:
    """Fit one lane's lead times (whole periods); ``mode`` ``fitted`` (by BIC among
    :data:`LEAD_TIME_FAMILIES`) or ``empirical``."""
    x = np.asarray(lead_times, dtype=float)
    if len(x) == 0:
        raise ValueError("no lead times to fit")
    if np.any(x < 0) or np.any(x != np.floor(x)):
        raise ValueError("lead times must be whole periods >= 0")
    names = ("constant", "empirical") if mode == "empirical" else LEAD_TIME_FAMILIES
    fits = [f for f in (_lead_time_candidate(x, name) for name in names) if f is not None]
    bic = {f.family: math.log(len(x)) * f.parameters - 2.0 * f.loglik for f in fits}
    best = min(fits, key=lambda f: bic[f.family])
    values, counts = np.unique(x, return_counts=True)
    estimated = _ESTIMATED.get(best.family)
    statistic, df, p_value = _chi2_gof(values, counts, _scipy(best.spec), estimated)
    return LeadTimeFit(
        best,
        len(x),
        bic,
        statistic,
        df,
        p_value,
        float(np.mean(x)),
        float(np.var(x, ddof=1)) if len(x) > 1 else 0.0,
        {int(v): int(c) for v, c in zip(values, counts, strict=True)},
    )


_ESTIMATED = {"constant": 0, "uniform_int": 0, "poisson": 1, "negative_binomial": 2}
"""Parameters estimated from the counts, each taking a degree of freedom of the chi-square test
(``uniform_int``'s ends are the smallest and largest values seen; an ``empirical`` law is the
counts themselves: nothing left to test)."""


def _chi2_gof(
    values: np.ndarray, counts: np.ndarray, frozen: Any, estimated: int | None
) -> tuple[float, int, float]:
    """Pearson's chi-square test of observed counts against the fitted law (cells pooled from
    the top until each expects at least 5 observations), ``estimated`` parameters fitted to them
    (None: the law is the counts)."""
    n = float(counts.sum())
    upper = int(values.max())
    support = np.arange(0, upper + 1)
    expected = n * frozen.pmf(support)
    expected[-1] += n * frozen.sf(upper)  # the last cell takes the upper tail
    observed = np.zeros(len(support))
    observed[values.astype(int)] = counts
    cells_o: list[float] = []
    cells_e: list[float] = []
    acc_o = acc_e = 0.0
    for o, e in zip(observed.tolist(), expected.tolist(), strict=True):
        acc_o, acc_e = acc_o + o, acc_e + e
        if acc_e >= 5.0:
            cells_o.append(acc_o)
            cells_e.append(acc_e)
            acc_o = acc_e = 0.0
    if cells_e:
        cells_o[-1] += acc_o
        cells_e[-1] += acc_e
    df = len(cells_e) - 1 - (len(cells_e) if estimated is None else estimated)
    if df < 1:
        return 0.0, 0, 1.0
    obs, exp = np.asarray(cells_o), np.asarray(cells_e)
    statistic = float(np.sum((obs - exp) ** 2 / exp))
    return statistic, df, float(stats.chi2.sf(statistic, df))


def stable_seed(name: str) -> int:
    """A seed for the randomised parts of a report, fixed per node or lane name."""
    return zlib.crc32(name.encode("utf-8"))
