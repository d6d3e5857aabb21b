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



@dataclass(frozen=True)
class RatioEstimate:
    value: float  # sum of numerators / sum of denominators
    variance: float  # of value, by the delta method over units
    units: int

    def interval(self, alpha: float) -> tuple[float, float]:
        """The fixed-look (1 - alpha) normal interval of value."""
        half = NormalDist().inv_cdf(1 - alpha / 2) * math.sqrt(self.variance)
        return self.value - half, self.value + half


class RatioSums:
    """Sums over units of a ratio metric's numerator x and denominator y (and their squares
    and product), kept as units' values change, so the estimate at any moment costs O(1)."""

    __slots__ = ("n", "sx", "sy", "sxx", "syy", "sxy")

    def __init__(self):
        self.n = 0
        self.sx = self.sy = self.sxx = self.syy = self.sxy = 0.0

    def change(self, old: tuple[float, float] | None, new: tuple[float, float]) -> None:
        """A unit's (x, y) went from old (None: a new unit) to new."""
        ox, oy = old if old is not None else (0.0, 0.0)
        nx, ny = new
        self.n += old is None
        self.sx += nx - ox
        self.sy += ny - oy
        self.sxx += nx * nx - ox * ox
        self.syy += ny * ny - oy * oy
        self.sxy += nx * ny - ox * oy

    def estimate(self) -> RatioEstimate | None:
        """sum x / sum y with its delta-method variance; None with fewer than 2 units or
        nothing in the denominators."""
        n = self.n
        if n < 2 or self.sy <= 0:
            return None
        mx, my = self.sx / n, self.sy / n
        var_x = (self.sxx - n * mx * mx) / (n - 1)
        var_y = (self.syy - n * my * my) / (n - 1)
        cov = (self.sxy - n * mx * my) / (n - 1)
        ratio = self.sx / self.sy
        variance = (var_x - 2 * ratio * cov + ratio * ratio * var_y) / (n * my * my)
        return RatioEstimate(ratio, max(variance, 0.0), n)


def ratio_estimate(numerators: Sequence[float], denominators: Sequence[float]) -> RatioEstimate | None:
    """sum(numerators) / sum(denominators) over units, with its delta-method variance; None
    with fewer than 2 units or nothing in the denominators."""
    sums = RatioSums()
    for x, y in zip(numerators, denominators):
        sums.change(None, (float(x), float(y)))
    return sums.estimate()


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


class RunningTest:
    """The always-valid test read at every look of a growing log: the p-value is the smallest
    seen so far and the interval the intersection of those seen (Johari et al.), so a verdict,
    once reached, stands as the log grows."""

    def __init__(self, alpha: float):
        self.alpha = alpha
        self.p_value = 1.0
        self.interval: tuple[float, float] | None = None
        self.latest: SequentialTest | None = None

    def look(self, test: SequentialTest | None) -> None:
        if test is None:
            return
        self.latest = test
        self.p_value = min(self.p_value, test.p_value)
        if self.interval is None:
            self.interval = test.interval
        else:
            low, high = max(self.interval[0], test.interval[0]), min(self.interval[1], test.interval[1])
            if low <= high:  # empty only when the model is off: keep what was there
                self.interval = (low, high)

    @property
    def significant(self) -> bool:
        return self.p_value < self.alpha

    @property
    def direction(self) -> int:
        """+1 or -1 once significant (the side of zero the interval lies on), else 0."""
        if not self.significant or self.interval is None:
            return 0
        return 1 if self.interval[0] > 0 else -1 if self.interval[1] < 0 else 0


POWER = 0.8  # the chance a true effect of the minimum size is found by the sample size reported


def units_needed(variance: float, units: int, effect: float, tau: float, alpha: float,
                 power: float = POWER) -> int | None:
    """How many units in all the test needs, at this variance per unit, to find a true
    difference of `effect` with about `power`: where the estimate's lower (1 - power) quantile
    under that difference reaches p < alpha. None without a variance to go by."""
    if not variance > 0 or units < 1 or not effect > 0 or not tau > 0:
        return None
    per_unit = variance * units  # an estimate's variance falls as 1 / units
    threshold = math.log(1 / alpha)
    shortfall = NormalDist().inv_cdf(power)

    def reaches(total: float) -> bool:
        spread = per_unit / total
        low = effect - shortfall * math.sqrt(spread)
        return low > 0 and log_likelihood_ratio(low, spread, tau) >= threshold

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


def chi_square_survival(statistic: float, degrees: int) -> float:
    """P(X >= statistic) for X chi-square with `degrees` (a positive whole number) degrees of
    freedom, by the closed forms for whole degrees."""
    x = max(statistic, 0.0) / 2
    if degrees % 2 == 0:
        term = total = math.exp(-x)
        for i in range(1, degrees // 2):
            term *= x / i
            total += term
        return min(1.0, total)
    root = math.sqrt(2 * x)
    total = math.erfc(root / math.sqrt(2))
    term = math.sqrt(2 / math.pi) * math.exp(-x) * root if degrees > 1 else 0.0
    for r in range(1, (degrees - 1) // 2 + 1):
        total += term
        term *= 2 * x / (2 * r + 1)
    return min(1.0, total)
