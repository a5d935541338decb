"""AnalysisConfig.check_options: what a study may store as its own analysis settings."""

import pytest

from studies.analysis import AnalysisConfig


def test_known_settings_of_the_right_type_pass_and_numbers_become_floats():
    options = {
        "min_rating_variance": 0,
        "min_panel_correlation": 0.6,
        "max_unfinished_fraction": 0.2,
        "require_headphone_check": False,
        "bootstrap_resamples": 500,
        "seed": 7,
    }
    checked = AnalysisConfig.check_options(options)
    assert checked == options
    assert isinstance(checked["min_rating_variance"], float)
    config = AnalysisConfig.from_options(checked)
    assert (config.min_panel_correlation, config.require_headphone_check, config.seed) == (0.6, False, 7)
    assert AnalysisConfig.check_options({}) == {}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ([0.6], "must be a JSON object"),
        ({"min_panel_corelation": 0.6}, "unknown setting 'min_panel_corelation'"),
        ({"min_panel_correlation": "0.6"}, "min_panel_correlation must be a number, not '0.6'"),
        ({"min_panel_correlation": 1.5}, "min_panel_correlation must be from -1 to 1"),
        ({"min_rating_variance": -0.1}, "min_rating_variance must be from 0 to 4"),
        ({"max_unfinished_fraction": True}, "max_unfinished_fraction must be a number"),
        ({"confidence": float("nan")}, "confidence must be a number"),
        ({"confidence": 1}, "confidence must be between 0 and 1"),
        ({"require_headphone_check": 0}, "require_headphone_check must be true or false"),
        ({"bootstrap_resamples": 2000.0}, "bootstrap_resamples must be a whole number"),
        ({"bootstrap_resamples": 10**7}, "bootstrap_resamples must be from 100 to 20000"),
        ({"alpha": 10**400}, "alpha must be a number"),
    ],
)
def test_unknown_keys_wrong_types_and_values_out_of_range_are_named(options, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        AnalysisConfig.check_options(options)


def test_every_problem_is_reported_at_once():
    with pytest.raises(ValueError) as error:
        AnalysisConfig.check_options({"nope": 1, "alpha": 2, "seed": "x"})
    assert all(name in str(error.value) for name in ("'nope'", "alpha must", "seed must"))
