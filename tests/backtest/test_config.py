"""The [backtest] config section."""

from __future__ import annotations

from pathlib import Path

import pytest

from perpml.config import BacktestConfig, dump_config, load_config
from perpml.exceptions import ConfigError


def test_defaults_and_round_trip(tmp_path: Path) -> None:
    cfg = load_config(None)
    assert cfg.backtest == BacktestConfig()
    assert cfg.backtest.fee_rate == 0.0005 and cfg.backtest.n_shuffles == 200
    path = tmp_path / "c.toml"
    path.write_text(
        "[backtest]\nfee_rate = 0.0004\nuse_maker_fee = true\nslippage_bps = 2\n"
        "allow_missing_funding = true\nn_shuffles = 300\n"
    )
    loaded = load_config(path)
    assert loaded.backtest.applied_fee == loaded.backtest.maker_fee
    assert loaded.backtest.slippage_bps == 2.0
    again = tmp_path / "d.toml"
    again.write_text(dump_config(loaded))
    assert load_config(again) == loaded


@pytest.mark.parametrize(
    ("text", "match"),
    [
        pytest.param("fee_rate = -0.001", "fee_rate must be >= 0", id="negative-fee"),
        pytest.param("n_shuffles = 50", "n_shuffles must be >= 200", id="few-shuffles"),
        pytest.param("max_leverage = 0", "max_leverage", id="zero-leverage"),
        pytest.param(
            "funding_interval_hours = 3", "funding_interval_hours", id="bad-schedule"
        ),
        pytest.param("fees = 1", "Unknown key", id="unknown-key"),
        pytest.param("funding = 1", "true or false", id="not-bool"),
    ],
)
def test_bad_values_raise(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f"[backtest]\n{text}\n")
    with pytest.raises(ConfigError, match=match):
        load_config(path)
