"""The statistics an experiment is judged by. Pure functions, tested on hand-computed cases.

Metrics per search (click-through, conversion, revenue per search, an interleaving preference)
are ratios of sums over shoppers, because shoppers, not searches, are assigned: one shopper's
searches are not independent, and treating them as if they were understates the variance and
declares false winners. Their variance is the delta method's over shoppers (Deng, Knoblich and
Lu, "Applying the Delta Method in Metric Analytics", KDD 2018).

The test is the mixture sequential probability ratio test, mSPRT (Johari, Koomen, Pekelis and
Walsh, "Always Valid Inference", Operations Research 2022; what Optimizely's Stats Engine runs).
Merchants look at an experiment every day and stop it when it looks won; a fixed-horizon test
read that way declares a false winner far more often than its nominal rate. The mSPRT's
p-value and interval are valid at every look (Ville's inequality on the likelihood-ratio
martingale), so the page may be read at any time and a winner declared when p < alpha, and a
difference of zero is rejected with probability at most alpha however often one looks. The
mixing distribution is N(0, tau^2) with tau the experiment's minimum effect: its power is best
near the effect one wants to detect, and any tau keeps the error rate.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class RatioEstimate:
    value: float  # sum of numerators / sum of denominators
    variance: float  # of value, by the delta method over units
    units: int

    def interval(self, alpha: float) -> tuple[float, float]:
        """The fixed-look (1 - alpha) normal interval of value."""
        half = NormalDist().inv_cdf(1 - alpha / 2) * math.sqrt(self.variance)
        return self.value - half, self.value + half


def ratio_estimate(numerators: Sequence[float], denominators: Sequence[float]) -> RatioEstimate | None:
    """sum(numerators) / sum(denominators) over units, with its delta-method variance; None
    with fewer than 2 units or nothing in the denominators."""
    x = np.asarray(numerators, dtype=float)
    y = np.asarray(denominators, dtype=float)
    n = len(x)
    if n < 2 or y.sum() <= 0:
        return None
    ratio = x.sum() / y.sum()
    covariance = np.cov(x, y, ddof=1)
    variance = (covariance[0, 0] - 2 * ratio * covariance[0, 1] + ratio ** 2 * covariance[1, 1]) / (n * y.mean() ** 2)
    return RatioEstimate(float(ratio), max(float(variance), 0.0), n)


def log_likelihood_ratio(difference: float, variance: float, tau: float) -> float:
    """The mSPRT's log mixture likelihood ratio for an estimated difference with this variance
    (of the estimate), against a difference of zero, mixing over N(0, tau^2)."""
    s2, t2 = variance, tau * tau
    return 0.5 * math.log(s2 / (s2 + t2)) + t2 * difference * difference / (2 * s2 * (s2 + t2))


@dataclass(frozen=True)
class SequentialTest:
    difference: float
    p_value: float  # always valid: the chance of ever seeing evidence this strong under no difference
    interval: tuple[float, float]  # always-valid (1 - alpha) interval of the difference
    significant: bool


def sequential_test(difference: float, variance: float, tau: float, alpha: float) -> SequentialTest | None:
    """The mSPRT of `difference` (an estimate with `variance`) against zero; None without
    variance to judge by (too few units, or every unit the same)."""
    if not variance > 0 or not tau > 0:
        return None
    log_ratio = log_likelihood_ratio(difference, variance, tau)
    p_value = min(1.0, math.exp(-log_ratio))
    s2, t2 = variance, tau * tau
    # The differences d with log_likelihood_ratio(estimate - d) < log(1 / alpha).
    half = math.sqrt(2 * s2 * (s2 + t2) / t2 * (math.log(1 / alpha) + 0.5 * math.log((s2 + t2) / s2)))
    return SequentialTest(difference, p_value, (difference - half, difference + half), p_value < alpha)


def units_needed(variance: float, units: int, effect: float, tau: float, alpha: float) -> int | None:
    """How many units in all the test needs, at this variance per unit, before a true
    difference of `effect` would typically be declared (the estimate at `effect`, reaching
    p < alpha); None without a variance to go by."""
    if not variance > 0 or units < 1 or not effect > 0 or not tau > 0:
        return None
    per_unit = variance * units  # an estimate's variance falls as 1 / units
    threshold = math.log(1 / alpha)

    def reaches(total: float) -> bool:
        return log_likelihood_ratio(effect, per_unit / total, tau) >= threshold

    low, high = 1.0, float(max(units, 2))
    while not reaches(high):
        low, high = high, high * 2
        if high > 1e12:
            return None
    for _ in range(80):
        middle = math.sqrt(low * high)
        if reaches(middle):
            high = middle
        else:
            low = middle
    return math.ceil(high)
