"""How small data is warned about, and the smallest splits a drift or skew comparison is made
on (components/small_data.py)."""
import math

import numpy as np

from components import small_data


def test_small_data_warns_with_the_eval_uncertainty():
    assert small_data.SMALL_DATA_ROWS == 300
    assert small_data.small_data_warning(240, 60) is None
    warning = small_data.small_data_warning(24, 6)
    assert warning.startswith("WARNING: small data: 24 training and 6 eval rows, under 300.")
    assert "uncertain by up to ±0.20" in warning
    assert "skipped" in warning
    assert "eval rows" not in small_data.small_data_warning(100).split(".")[1]


def test_the_minimum_split_sizes_follow_the_noise_of_a_share():
    # noise = 1.96 * 0.5 / sqrt(n_eff), n_eff = n_a n_b / (n_a + n_b)
    assert math.isclose(small_data.minimum_effective_rows(0.1), 96.04)
    assert not small_data.measurable(0.1, 24, 6)        # n_eff 4.8: noise 0.45
    assert not small_data.measurable(0.1, 2400, 90)
    assert small_data.measurable(0.1, 2400, 101)        # n_eff 97.0
    assert small_data.measurable(0.1, 200, 200) and not small_data.measurable(0.1, 190, 190)
    assert not small_data.measurable(0.1, 100, 0)


def test_at_the_minimum_size_pure_noise_crosses_the_threshold_about_5_percent_of_the_time():
    """Two samples of one 50/50 label distribution (the worst case), at the smallest sizes the
    rule compares: the L-infinity distance exceeds 0.1 in about 5% of draws."""
    rng = np.random.default_rng(0)
    for n_a, n_b in [(2400, 101), (193, 193)]:
        assert small_data.measurable(0.1, n_a, n_b)
        distance = np.abs(rng.binomial(n_a, 0.5, 20000) / n_a - rng.binomial(n_b, 0.5, 20000) / n_b)
        assert 0.03 < np.mean(distance > 0.1) < 0.06
