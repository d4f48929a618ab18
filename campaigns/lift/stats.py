"""The statistics of a campaign's lift: treated members against the held-out ones. Pure functions, no Django.

- Conversion (bought at least once in the window): the rates, their difference with Newcombe's hybrid score
  interval (Newcombe 1998, method 10: Wilson intervals of each rate combined), which keeps its coverage near the
  rates 0 and 1 and with small groups where the Wald interval does not; the relative lift (treated rate over
  held-out rate, minus one) with the Katz log interval of the risk ratio; and the two-sided p-value of the
  pooled two-proportion z test (the normal approximation, the same as Pearson's chi-square of the 2x2 table).
- Sales per member (everyone counts, those who bought nothing with 0): the difference of the means with Welch's
  t interval (unequal variances, Welch-Satterthwaite degrees of freedom) and its two-sided p-value from the same
  t distribution (which is the normal approximation once the groups are large); the relative lift is the
  difference over the held-out mean, its interval the difference's interval over that mean (the held-out mean
  treated as known: close enough for a report, said so on the page).
- The sample-ratio mismatch: Pearson's chi-square (1 degree of freedom) of the actual split against the planned
  hold-out percent; a p-value under SRM_ALPHA means the groups were not split as planned and the lift should not
  be trusted (Kohavi, Tang & Xu, "Trustworthy Online Controlled Experiments", 2020, chapter 21).

Only `math`: the normal distribution through `math.erf`, the t distribution through the regularized incomplete
beta function (a continued fraction), their quantiles by bisection. Figures are floats; a result that cannot be
computed (an empty group, no variance, a held-out rate of 0) is None, never an exception.
"""

import math
from dataclasses import dataclass

CONFIDENCE = 0.95
SRM_ALPHA = 0.001


# The distributions


def normal_cdf(x: float) -> float:
    """Return P(Z <= x) for a standard normal Z."""
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def normal_two_sided_p(z: float) -> float:
    """Return P(|Z| >= |z|) for a standard normal Z (erfc keeps the precision of tiny p-values)."""
    return math.erfc(abs(z) / math.sqrt(2.0))


def _bisect(function, target: float, low: float, high: float) -> float:
    """Return x in [low, high] where the increasing `function` reaches `target` (to float precision)."""
    for _ in range(200):
        middle = (low + high) / 2.0
        if middle in (low, high):
            break
        if function(middle) < target:
            low = middle
        else:
            high = middle
    return (low + high) / 2.0


def normal_quantile(probability: float) -> float:
    """Return x with P(Z <= x) = `probability` (0 < probability < 1)."""
    return _bisect(normal_cdf, probability, -40.0, 40.0)


def _incomplete_beta_fraction(a: float, b: float, x: float) -> float:
    """Return the continued fraction of the regularized incomplete beta function (modified Lentz method)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 1000):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return result


def regularized_incomplete_beta(a: float, b: float, x: float) -> float:
    """Return I_x(a, b) for a, b > 0 and 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    # The fraction converges fast for x below the mean a / (a + b); above it, use I_x(a, b) = 1 - I_1-x(b, a).
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _incomplete_beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _incomplete_beta_fraction(b, a, 1.0 - x) / b


def t_two_sided_p(t: float, df: float) -> float:
    """Return P(|T| >= |t|) for Student's t with `df` degrees of freedom (df may be fractional)."""
    return regularized_incomplete_beta(df / 2.0, 0.5, df / (df + t * t))


def t_quantile(probability: float, df: float) -> float:
    """Return x with P(T <= x) = `probability` for Student's t with `df` degrees of freedom."""

    def cdf(x: float) -> float:
        tail = t_two_sided_p(x, df) / 2.0
        return 1.0 - tail if x >= 0 else tail

    return _bisect(cdf, probability, -1e6, 1e6)


# Conversion


@dataclass(frozen=True)
class ProportionLift:
    treated_rate: float | None
    control_rate: float | None
    difference: float | None  # treated rate minus held-out rate, absolute (0.05 = five percentage points)
    difference_low: float | None
    difference_high: float | None
    relative: float | None  # treated rate / held-out rate - 1 (0.123 = 12.3 % more often)
    relative_low: float | None
    relative_high: float | None
    p_value: float | None  # two-sided, pooled z test


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Return Wilson's score interval of the proportion successes / n (n > 0)."""
    z = normal_quantile(0.5 + confidence / 2.0)
    p = successes / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    denominator = 1 + z * z / n
    return (centre - spread) / denominator, (centre + spread) / denominator


def proportion_lift(
    *, treated_n: int, treated_successes: int, control_n: int, control_successes: int, confidence: float = CONFIDENCE
) -> ProportionLift:
    """Return the conversion lift of the treated group over the held-out group (see the module's docstring)."""
    treated_rate = treated_successes / treated_n if treated_n else None
    control_rate = control_successes / control_n if control_n else None
    if treated_rate is None or control_rate is None:
        return ProportionLift(treated_rate, control_rate, None, None, None, None, None, None, None)
    z = normal_quantile(0.5 + confidence / 2.0)
    difference = treated_rate - control_rate
    treated_low, treated_high = wilson_interval(treated_successes, treated_n, confidence)
    control_low, control_high = wilson_interval(control_successes, control_n, confidence)
    difference_low = difference - math.sqrt((treated_rate - treated_low) ** 2 + (control_high - control_rate) ** 2)
    difference_high = difference + math.sqrt((treated_high - treated_rate) ** 2 + (control_rate - control_low) ** 2)

    pooled = (treated_successes + control_successes) / (treated_n + control_n)
    pooled_se = math.sqrt(pooled * (1 - pooled) * (1 / treated_n + 1 / control_n))
    p_value = normal_two_sided_p(difference / pooled_se) if pooled_se > 0 else None

    relative = relative_low = relative_high = None
    if control_successes > 0:
        relative = treated_rate / control_rate - 1
        if treated_successes > 0:
            log_se = math.sqrt(1 / treated_successes - 1 / treated_n + 1 / control_successes - 1 / control_n)
            log_ratio = math.log(treated_rate / control_rate)
            relative_low = math.exp(log_ratio - z * log_se) - 1
            relative_high = math.exp(log_ratio + z * log_se) - 1
    return ProportionLift(
        treated_rate,
        control_rate,
        difference,
        difference_low,
        difference_high,
        relative,
        relative_low,
        relative_high,
        p_value,
    )


# Sales per member


@dataclass(frozen=True)
class MeanLift:
    treated_mean: float | None
    control_mean: float | None
    difference: float | None  # treated mean minus held-out mean, in money
    difference_low: float | None
    difference_high: float | None
    relative: float | None  # difference / held-out mean
    relative_low: float | None
    relative_high: float | None
    p_value: float | None  # two-sided, Welch's t
    degrees_of_freedom: float | None


def _mean_and_variance(n: int, total: float, total_of_squares: float) -> tuple[float, float]:
    """Return the mean and the sample variance (n - 1) from n, the sum and the sum of squares."""
    mean = total / n
    # The sums come from the database: the subtraction can go a rounding error below zero.
    variance = max(total_of_squares - n * mean * mean, 0.0) / (n - 1)
    return mean, variance


def mean_lift(
    *,
    treated_n: int,
    treated_total: float,
    treated_total_of_squares: float,
    control_n: int,
    control_total: float,
    control_total_of_squares: float,
    confidence: float = CONFIDENCE,
) -> MeanLift:
    """Return the lift in sales per member from each group's size, sum and sum of squares (Welch's t interval).

    Sums rather than member lists so that the caller reads each group with one aggregate query.
    """
    treated_mean = treated_total / treated_n if treated_n else None
    control_mean = control_total / control_n if control_n else None
    empty = MeanLift(treated_mean, control_mean, None, None, None, None, None, None, None, None)
    if treated_n < 2 or control_n < 2:
        return empty
    treated_mean, treated_variance = _mean_and_variance(treated_n, treated_total, treated_total_of_squares)
    control_mean, control_variance = _mean_and_variance(control_n, control_total, control_total_of_squares)
    treated_share, control_share = treated_variance / treated_n, control_variance / control_n
    standard_error = math.sqrt(treated_share + control_share)
    difference = treated_mean - control_mean
    if standard_error == 0:
        return MeanLift(treated_mean, control_mean, difference, None, None, None, None, None, None, None)
    df = (treated_share + control_share) ** 2 / (
        treated_share**2 / (treated_n - 1) + control_share**2 / (control_n - 1)
    )
    t = t_quantile(0.5 + confidence / 2.0, df)
    low, high = difference - t * standard_error, difference + t * standard_error
    p_value = t_two_sided_p(difference / standard_error, df)
    relative = relative_low = relative_high = None
    if control_mean > 0:
        relative, relative_low, relative_high = difference / control_mean, low / control_mean, high / control_mean
    return MeanLift(
        treated_mean, control_mean, difference, low, high, relative, relative_low, relative_high, p_value, df
    )


# The split


@dataclass(frozen=True)
class SampleRatio:
    expected_control: float  # members the plan puts in the held-out group
    chi_square: float | None
    p_value: float | None
    is_mismatch: bool  # p < SRM_ALPHA: the split is not what was planned


def sample_ratio_check(
    *, treated_n: int, control_n: int, holdout_percent: float, alpha: float = SRM_ALPHA
) -> SampleRatio:
    """Return Pearson's chi-square test (1 dof) of the actual split against `holdout_percent` held out.

    A plan of 0 % (or 100 %) has nothing to test unless members landed in the group that should be empty, which
    is a mismatch whatever the numbers.
    """
    total = treated_n + control_n
    share = holdout_percent / 100.0
    expected_control = total * share
    if total == 0:
        return SampleRatio(0.0, None, None, False)
    if share <= 0.0 or share >= 1.0:
        stray = control_n if share <= 0.0 else treated_n
        return SampleRatio(expected_control, None, None, stray > 0)
    expected_treated = total - expected_control
    chi_square = (control_n - expected_control) ** 2 / expected_control + (
        treated_n - expected_treated
    ) ** 2 / expected_treated
    # With one degree of freedom, chi-square is the square of a standard normal.
    p_value = math.erfc(math.sqrt(chi_square / 2.0))
    return SampleRatio(expected_control, chi_square, p_value, p_value < alpha)
