"""The lift statistics against published worked examples (each test names its source)."""

import pytest

from campaigns.lift import stats

# Welch's t-test, Wikipedia "Welch's t-test", section "Examples", example 1 (A1 and A2, 15 values each):
# t = -2.46, degrees of freedom 24.99, two-sided p = 0.021.
A1 = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4]
A2 = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4]


def test_normal_distribution_matches_the_tables():
    # Any normal table: Phi(1.96) = 0.9750, the 97.5 % quantile 1.959964.
    assert stats.normal_cdf(1.96) == pytest.approx(0.9750021, abs=1e-7)
    assert stats.normal_quantile(0.975) == pytest.approx(1.959964, abs=1e-6)
    assert stats.normal_two_sided_p(1.96) == pytest.approx(0.0499958, abs=1e-7)


def test_t_distribution_matches_the_tables():
    # Student's t table: t(0.975; 10 df) = 2.228, t(0.975; 1 df) = 12.706, t(0.975; 30 df) = 2.042.
    assert stats.t_quantile(0.975, 10) == pytest.approx(2.228139, abs=1e-6)
    assert stats.t_quantile(0.975, 1) == pytest.approx(12.706205, abs=1e-5)
    assert stats.t_quantile(0.975, 30) == pytest.approx(2.042272, abs=1e-6)
    assert stats.t_two_sided_p(2.228139, 10) == pytest.approx(0.05, abs=1e-6)


def test_wilson_interval_matches_newcombe():
    # Newcombe (1998), "Two-sided confidence intervals for the single proportion", Statistics in Medicine 17:857,
    # table I: 81 of 263, Wilson score interval 0.2553 to 0.3662.
    low, high = stats.wilson_interval(81, 263)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)


@pytest.mark.parametrize(
    ("treated", "control", "low", "high"),
    [
        # Newcombe (1998), "Interval estimation for the difference between independent proportions", Statistics in
        # Medicine 17:873, table II, method 10 (hybrid score): 56/70 - 48/80 -> 0.0524 to 0.3339;
        # 9/10 - 3/10 -> 0.1705 to 0.8090.
        ((56, 70), (48, 80), 0.0524, 0.3339),
        ((9, 10), (3, 10), 0.1705, 0.8090),
    ],
)
def test_difference_of_rates_has_newcombes_hybrid_score_interval(treated, control, low, high):
    lift = stats.proportion_lift(
        treated_successes=treated[0], treated_n=treated[1], control_successes=control[0], control_n=control[1]
    )
    assert (round(lift.difference_low, 4), round(lift.difference_high, 4)) == (low, high)


def test_conversion_lift_of_the_worked_example():
    # 56/70 against 48/80. By hand: rates 0.8 and 0.6; pooled rate 104/150, standard error
    # sqrt(0.69333 * 0.30667 * (1/70 + 1/80)) = 0.075469, z = 0.2 / 0.075469 = 2.6501, p = 0.00805.
    # Risk ratio 1.3333, Katz log interval exp(ln 1.3333 -+ 1.96 * sqrt(1/56 - 1/70 + 1/48 - 1/80)) = 1.0766
    # to 1.6512 (also scipy.stats.contingency.relative_risk), so a relative lift of 33.3 % (7.7 % to 65.1 %).
    lift = stats.proportion_lift(treated_n=70, treated_successes=56, control_n=80, control_successes=48)
    assert lift.treated_rate == pytest.approx(0.8)
    assert lift.control_rate == pytest.approx(0.6)
    assert lift.difference == pytest.approx(0.2)
    assert lift.p_value == pytest.approx(0.00805, abs=1e-5)
    assert lift.relative == pytest.approx(1 / 3)
    assert lift.relative_low == pytest.approx(0.0766, abs=1e-4)
    assert lift.relative_high == pytest.approx(0.6512, abs=1e-4)


def test_conversion_lift_without_a_held_out_group_is_not_computed():
    lift = stats.proportion_lift(treated_n=100, treated_successes=10, control_n=0, control_successes=0)
    assert lift.treated_rate == pytest.approx(0.1)
    assert (lift.control_rate, lift.difference, lift.p_value, lift.relative) == (None, None, None, None)


def test_relative_lift_is_not_computed_when_nobody_held_out_bought():
    lift = stats.proportion_lift(treated_n=100, treated_successes=10, control_n=50, control_successes=0)
    assert lift.difference == pytest.approx(0.1)
    assert (lift.relative, lift.relative_low, lift.relative_high) == (None, None, None)


def test_sales_per_member_has_welchs_interval_of_the_worked_example():
    lift = stats.mean_lift(
        treated_n=len(A1),
        treated_total=sum(A1),
        treated_total_of_squares=sum(value * value for value in A1),
        control_n=len(A2),
        control_total=sum(A2),
        control_total_of_squares=sum(value * value for value in A2),
    )
    assert lift.treated_mean == pytest.approx(20.82)
    assert lift.control_mean == pytest.approx(22.98667, abs=1e-5)
    assert lift.difference == pytest.approx(-2.16667, abs=1e-5)
    assert lift.degrees_of_freedom == pytest.approx(24.99, abs=0.01)
    assert lift.p_value == pytest.approx(0.021, abs=5e-4)
    # The interval by hand: standard error 2.16667 / 2.46 = 0.88241, t(0.975; 24.99) = 2.0596.
    assert lift.difference_low == pytest.approx(-3.9841, abs=1e-4)
    assert lift.difference_high == pytest.approx(-0.3492, abs=1e-4)
    assert lift.relative == pytest.approx(-2.16667 / 22.98667, abs=1e-5)


def test_sales_lift_of_identical_groups_is_not_significant():
    lift = stats.mean_lift(
        treated_n=4,
        treated_total=10,
        treated_total_of_squares=30,
        control_n=4,
        control_total=10,
        control_total_of_squares=30,
    )
    assert lift.difference == pytest.approx(0)
    assert lift.p_value == pytest.approx(1)


def test_sales_lift_needs_two_members_per_group():
    lift = stats.mean_lift(
        treated_n=1,
        treated_total=5,
        treated_total_of_squares=25,
        control_n=3,
        control_total=3,
        control_total_of_squares=3,
    )
    assert lift.treated_mean == 5
    assert lift.control_mean == 1
    assert (lift.difference, lift.p_value) == (None, None)


def test_sample_ratio_mismatch_of_kohavis_example():
    # Kohavi, Tang & Xu, "Trustworthy Online Controlled Experiments" (2020), chapter 3: a 50/50 experiment with
    # 821,588 and 815,482 users has a sample-ratio p-value of 1.8e-6: a mismatch.
    check = stats.sample_ratio_check(treated_n=821_588, control_n=815_482, holdout_percent=50)
    assert check.chi_square == pytest.approx(22.774, abs=1e-3)
    assert check.p_value == pytest.approx(1.8e-6, abs=0.05e-6)
    assert check.is_mismatch


def test_a_split_within_chance_is_no_mismatch():
    # 10 % planned, 1,030 of 10,000 held out. By hand: chi-square 30^2/1000 + 30^2/9000 = 1.0, p = 0.3173.
    check = stats.sample_ratio_check(treated_n=8_970, control_n=1_030, holdout_percent=10)
    assert check.expected_control == pytest.approx(1000)
    assert check.chi_square == pytest.approx(1.0)
    assert check.p_value == pytest.approx(0.3173, abs=1e-4)
    assert not check.is_mismatch


def test_members_held_out_of_a_campaign_without_hold_out_are_a_mismatch():
    assert stats.sample_ratio_check(treated_n=100, control_n=1, holdout_percent=0).is_mismatch
    assert not stats.sample_ratio_check(treated_n=100, control_n=0, holdout_percent=0).is_mismatch
    assert not stats.sample_ratio_check(treated_n=0, control_n=0, holdout_percent=10).is_mismatch
