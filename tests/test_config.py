from __future__ import annotations

import pytest

from perpml.config import (
    RunConfig,
    config_from_mapping,
    dump_config,
    load_config,
)
from perpml.exceptions import ConfigError


def test_defaults_round_trip_through_toml(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text(dump_config(RunConfig()))
    assert load_config(path) == RunConfig()


def test_partial_file_keeps_defaults(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('[data]\nsymbol = "ETHUSDT"\ndays = 5\n')
    config = load_config(path)
    assert config.data.symbol == "ETHUSDT"
    assert config.data.days == 5.0
    assert config.targets.horizon == 12


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        pytest.param({"dat": {}}, "Unknown section", id="unknown-section"),
        pytest.param({"data": {"sorce": "x"}}, "Valid keys", id="unknown-key"),
        pytest.param({"data": {"source": "ftp"}}, "must be one of", id="bad-literal"),
        pytest.param({"data": {"days": "ten"}}, "must be a number", id="bad-type"),
        pytest.param(
            {"data": {"days": -1}},
            "days \\(--days\\) must be a positive, finite",
            id="bad-range",
        ),
        pytest.param({"data": {"interval": "7m"}}, "interval", id="bad-interval"),
        pytest.param({"targets": {"horizon": 0}}, "horizon", id="bad-horizon"),
        pytest.param({"models": {"skip_lstm": 1}}, "true or false", id="bad-bool"),
        pytest.param(
            {"split": {"test_fraction": 0.7}}, "test_fraction", id="bad-fraction"
        ),
    ],
)
def test_bad_config_is_rejected_with_reason(raw, match):
    with pytest.raises(ConfigError, match=match):
        config_from_mapping(raw)


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[data\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_overrides_ignore_none_and_validate():
    config = RunConfig().with_overrides("data", symbol="ETHUSDT", days=None)
    assert config.data.symbol == "ETHUSDT"
    assert config.data.days is None  # resolved at load time (simulator: 60)
    with pytest.raises(ConfigError):
        RunConfig().with_overrides("data", days=0)
