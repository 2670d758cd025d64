"""Optional: the truncation check raises no false alarm on real Binance files
(partial last bar, funding-time jitter, a feed that starts late); skipped when the
shared real-data folder is absent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from data._helpers import real_data_dir  # tests/data/_helpers.py
from perpml.config import RunConfig, dump_config
from perpml.evaluation.audit import audit_run

REAL = real_data_dir() or Path("shared-real-data-not-found")

pytestmark = [
    pytest.mark.network,
    pytest.mark.skipif(
        not REAL.exists(), reason=f"shared real-data folder {REAL} not present"
    ),
]


def test_truncation_passes_real_klines_with_funding(tmp_path) -> None:
    config = RunConfig().with_overrides(
        "data",
        source="file",
        symbol="ETHUSDT",
        interval="1h",
        paths=(
            str(REAL / "ETHUSDT_1h_2025-09_2026-03.csv"),
            str(REAL / "ETHUSDT_funding.csv"),
        ),
    )
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.toml").write_text(dump_config(config))
    features = ["price_logret_1", "funding_rate", "funding_mean_288"]
    info = {"features": features, "horizon": 12, "embargo": "0 days 12:00:00"}
    (run / "run.json").write_text(json.dumps(info))
    (run / "metrics.json").write_text(json.dumps({"models": {}}))
    report = audit_run(run, checks=["truncation"], write=False)
    detail = report.checks["detail"].iloc[0]
    assert report.passed, detail
    assert "files re-loaded" in detail
