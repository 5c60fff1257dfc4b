"""Calibration recovers the truth of the generated year of a 50-store network, and the fits obey
the laws they rest on.

Acceptance (on ``twin.live.sample``'s network: 50 stores of five demand families, weekly seasons and
trends on some of them, five lead-time families):

* the fitted demand mean is within 5 % of the true mean on at least 90 % of the nodes;
* the true family is chosen on at least 90 % of the nodes, and the true effects too;
* every lane's fitted lead-time law passes a two-sample test against the true law (chi-square
  test of homogeneity, Holm's correction over the 55 lanes at 5 %). Each sample has half as many
  draws as the lane has observations (about 180): a fitted law carries the sampling error of its
  observations, which inflates the statistic by a factor ``1 + N / (2 n)`` for samples of ``N``
  against ``n`` observations; at ``N = n / 2`` a correctly calibrated network fails the test about
  as often as the level says (3 % of 60 simulated networks; 13 % with ``N = n``).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from entities.demand import stochastic_round
from entities.distributions import from_spec
from twin.live.calibrate import Calibration, calibrate
from twin.live.fit import (
    _rounded_cdf,
    _Rounding,
    _scipy,
    fit_continuous,
    fit_demand,
    fit_discrete,
    fit_lead_time,
)
from twin.live.history import read_history
from twin.live.sample import Sample, generate
from twin.live.store import open_store


@pytest.fixture(scope="module")
def year(tmp_path_factory: pytest.TempPathFactory) -> tuple[Sample, Calibration]:
    url = str(tmp_path_factory.mktemp("year") / "sample.db")
    sample = generate(url)  # 50 stores, 5 warehouses, 365 days
    with open_store(url) as store:
        history = read_history(store)
    return sample, calibrate(history)


def _stores(sample: Sample) -> list:
    return [n for n in sample.scenario.nodes if n.demand is not None]


def test_fitted_demand_means_are_within_5_percent_on_90_percent_of_the_nodes(year) -> None:
    sample, calibration = year
    nodes = _stores(sample)
    assert len(nodes) == 50
    errors = [
        calibration.demand[(n.id, "default")].fit.distribution.mean / n.demand.mean - 1.0 for n in nodes
    ]
    assert sum(abs(e) <= 0.05 for e in errors) >= 0.9 * len(nodes), sorted(errors, key=abs)[-8:]


def test_the_true_family_and_effects_are_chosen_on_90_percent_of_the_nodes(year) -> None:
    sample, calibration = year
    nodes = _stores(sample)
    families = [calibration.demand[(n.id, "default")].fit.family == n.demand.kind for n in nodes]
    assert sum(families) >= 0.9 * len(nodes)

    def true_effects(n) -> set[str]:
        e = n.demand_effects
        return (
            set()
            if e is None
            else {k for k, on in (("trend", e.trend), ("season", e.seasonality)) if on}
        )

    effects = [
        set(calibration.demand[(n.id, "default")].mean_model.effects) == true_effects(n) for n in nodes
    ]
    assert sum(effects) >= 0.9 * len(nodes)
    for n in nodes:  # where a season is found: its amplitude and phase, within 4 standard errors
        demand = calibration.demand[(n.id, "default")]
        fit = demand.mean_model
        season = None if n.demand_effects is None else n.demand_effects.seasonality
        if season is not None and "season" in fit.effects:
            cv = math.sqrt(n.demand.variance) / n.demand.mean
            se = cv * math.sqrt(2 / demand.observations)  # of a sinusoid's amplitude (relative)
            assert fit.amplitude == pytest.approx(season.amplitude, abs=4 * se)
            gap = abs(fit.phase - season.phase) % 7
            assert min(gap, 7 - gap) < 4 * se / season.amplitude * 7 / (2 * math.pi)


def _homogeneity(a: np.ndarray, b: np.ndarray) -> float:
    """p-value of the chi-square test that two samples of whole numbers share one law (cells
    pooled from the top until each expects at least 5 in both samples)."""
    values = np.arange(int(max(a.max(), b.max())) + 1)
    ca = np.array([(a == v).sum() for v in values], dtype=float)
    cb = np.array([(b == v).sum() for v in values], dtype=float)
    cells, acc = [], np.zeros(2)
    for pair in zip(ca, cb, strict=True):
        acc = acc + pair
        if acc.sum() * min(len(a), len(b)) / (len(a) + len(b)) >= 5:
            cells.append(acc)
            acc = np.zeros(2)
    if acc.sum():
        if cells:
            cells[-1] = cells[-1] + acc
        else:
            cells.append(acc)
    if len(cells) < 2:
        return 1.0
    return float(stats.chi2_contingency(np.array(cells).T)[1])


def test_lead_time_laws_pass_a_two_sample_test_against_the_truth(year) -> None:
    sample, calibration = year
    rng = np.random.default_rng(2024)
    p_values = []
    for lane in sample.scenario.lanes:
        fit = calibration.lead_times[(lane.origin, lane.destination)]
        n = fit.observations // 2
        draws_fit = np.ceil(fit.fit.distribution.sample(rng, n))
        draws_true = np.ceil(lane.lead_time.sample(rng, n))  # what the twin does with a draw
        p_values.append(_homogeneity(draws_fit, draws_true))
    assert len(p_values) == 55
    ordered = sorted(p_values)
    m = len(ordered)
    assert all(p > 0.05 / (m - k) for k, p in enumerate(ordered)), ordered[:5]  # Holm at 5 %


# --------------------------------------------------------------------------------------------------
# Laws of the fits.


def test_maximum_likelihood_estimates_of_the_closed_forms() -> None:
    rng = np.random.default_rng(1)
    counts = rng.poisson(12.0, 300).astype(float)
    assert fit_discrete(counts, None, "poisson").spec["mean"] == pytest.approx(counts.mean(), rel=1e-12)
    z = rng.gamma(5.0, 3.0, 300)
    shape, _, scale = stats.gamma.fit(z, floc=0.0)
    g = fit_continuous(z, None, "gamma")
    assert (g.spec["shape"], g.spec["scale"]) == pytest.approx((shape, scale))
    ln = fit_continuous(z, None, "lognormal")
    assert (ln.spec["log_mean"], ln.spec["log_sd"]) == pytest.approx((np.log(z).mean(), np.log(z).std()))
    x = rng.normal(50, 5, 300)
    normal = fit_continuous(x, None, "normal")
    assert (normal.spec["mean"], normal.spec["sd"]) == pytest.approx((x.mean(), x.std()))
    assert normal.loglik == pytest.approx(stats.norm.logpdf(x, x.mean(), x.std()).sum())
    assert fit_continuous(rng.normal(5, 3, 300).clip(0.01), None, "normal") is None  # mean < 4 sd


def test_the_rounding_likelihood_is_the_plain_one_without_effects() -> None:
    y = np.random.default_rng(2).negative_binomial(4, 0.2, 200).astype(float)
    for family in ("poisson", "negative_binomial"):
        plain = fit_discrete(y, None, family)
        rounded = fit_discrete(y, np.ones_like(y), family)
        assert rounded.loglik == pytest.approx(plain.loglik, rel=1e-6)


@pytest.mark.parametrize("m", [0.37, 0.8, 1.0, 1.3, 2.45])
def test_the_law_of_rounded_scaled_draws(m: float) -> None:
    """P(round(m X) = k) of the likelihood and of the goodness-of-fit agree with each other and
    with simulated draws of the twin's stochastic rounding."""
    frozen = stats.poisson(9.0)
    ks = np.arange(0, 120, dtype=float)
    ms = np.full(len(ks), m)
    cdf = _rounded_cdf(frozen, ks, ms)
    pmf = np.diff(np.concatenate([[0.0], cdf]))
    rounding = _Rounding(ks, ms)
    from_likelihood = np.bincount(
        rounding.rows, weights=rounding.w * frozen.pmf(rounding.x), minlength=len(ks)
    )
    assert pmf == pytest.approx(from_likelihood, abs=1e-12)
    assert cdf[-1] == pytest.approx(1.0, abs=1e-9)
    rng = np.random.default_rng(3)
    draws = stochastic_round(m * rng.poisson(9.0, 40_000), rng.random(40_000))
    observed = np.array([(draws == k).sum() for k in ks])
    expected = 40_000 * pmf
    keep = expected >= 5
    statistic = ((observed[keep] - expected[keep]) ** 2 / expected[keep]).sum()
    assert stats.chi2.sf(statistic, keep.sum() - 1) > 1e-3


def test_a_weekly_season_and_a_trend_are_recovered() -> None:
    rng = np.random.default_rng(4)
    t = np.arange(365)
    m = (1 + 0.001 * t) * (1 + 0.3 * np.sin(2 * math.pi * (t - 2.0) / 7))
    y = stochastic_round(m * rng.poisson(25.0, 365), rng.random(365))
    fit = fit_demand(y, t)
    assert fit.mean_model.effects == ("trend", "season")
    base = fit.fit.distribution  # Poisson(25): mean 25 (se 0.26), variance / mean 1 (se 0.07)
    assert base.mean == pytest.approx(25.0, abs=1.5)
    assert base.variance / base.mean == pytest.approx(1.0, abs=0.3)
    assert fit.mean_model.trend == pytest.approx(0.001, abs=3e-4)
    assert fit.mean_model.amplitude == pytest.approx(0.3, abs=0.04)
    assert fit.mean_model.phase == pytest.approx(2.0, abs=0.2)
    assert fit.ks_p_value > 0.01
    plain = fit_demand(rng.poisson(25.0, 365).astype(float), t)
    assert plain.mean_model.effects == ()


@pytest.mark.parametrize(
    ("spec", "family"),
    [
        ({"dist": "constant", "value": 2}, "constant"),
        ({"dist": "uniform_int", "low": 2, "high": 5}, "uniform_int"),
        ({"dist": "poisson", "mean": 3.0}, "poisson"),
        ({"dist": "empirical", "values": [1, 4, 9], "probabilities": [0.5, 0.3, 0.2]}, "empirical"),
    ],
)
def test_lead_time_families_are_recognised(spec: dict, family: str) -> None:
    draws = from_spec(spec).sample(np.random.default_rng(5), 400)
    fit = fit_lead_time(draws)
    assert fit.fit.family == family
    assert fit.chi2_p_value > 0.001
    assert fit_lead_time(draws, mode="empirical").fit.family in ("empirical", "constant")
    assert _scipy(fit.lead_time).mean() == pytest.approx(np.mean(draws), rel=0.1)


def test_the_calibrated_sections_load_into_the_scenario(year, tmp_path: Path) -> None:
    from twin.live.calibrate import calibrated_data
    from twin.scenario import scenario_from_dict

    sample, calibration = year
    data = calibrated_data(sample.scenario.to_yaml_dict(), calibration, source="truth.yaml")
    scenario = scenario_from_dict(data, source="calibrated.yaml")
    node = scenario.node_map["ST001"]
    fit = calibration.demand[("ST001", "default")]
    assert node.demand.to_spec() == from_spec(fit.demand).to_spec()
    sections = calibration.sections()
    assert len(sections["nodes"]) == 50 and len(sections["lanes"]) == 55


@pytest.mark.parametrize(
    "spec",
    [{"dist": "uniform_int", "low": 2, "high": 5}, {"dist": "poisson", "mean": 2.0}],
)
def test_the_lead_time_goodness_of_fit_test_has_its_level(spec: dict) -> None:
    """Of 400 lanes whose lead times follow the fitted family, about 5 % are rejected at 5 %
    (each estimated parameter, and only those, takes a degree of freedom: one too many makes it
    about 15 %)."""
    rng = np.random.default_rng(6)
    law = from_spec(spec)
    p_values = np.array([fit_lead_time(law.sample(rng, 365)).chi2_p_value for _ in range(400)])
    rate = float(np.mean(p_values < 0.05))
    assert 0.017 <= rate <= 0.083, rate  # binomial(400, 0.05): 0.05 +- 3 standard errors
