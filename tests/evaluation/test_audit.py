"""Leakage audit: its checks on hand-made run directories (fast), planted bugs caught.

End-to-end runs (a clean run passes, a peeking feature fails) are in
``test_audit_planted.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from perpml.cli import app
from perpml.config import RunConfig, dump_config
from perpml.data.sources.synthetic import simulate_market
from perpml.evaluation import fit_scope, splits
from perpml.evaluation.audit import audit_run, newey_west_se
from perpml.evaluation.preprocessing import FeatureScaler
from perpml.evaluation.splits import chronological_split, label_end_from_index
from perpml.exceptions import RunDirectoryError

runner = CliRunner()
HORIZON = 12
EMBARGO = pd.Timedelta("1h")


def _run_dir(
    path: Path, config: RunConfig | None = None, features: list[str] | None = None
) -> Path:
    """The files of a run directory the audit's cheap checks read."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.toml").write_text(dump_config(config or RunConfig()))
    info = {
        "features": features or [],
        "horizon": HORIZON,
        "embargo": str(EMBARGO),
        "oracle_accuracy": None,
    }
    (path / "run.json").write_text(json.dumps(info))
    (path / "metrics.json").write_text(json.dumps({"models": {}, "baselines": {}}))
    return path


def _frame(n: int = 600) -> tuple[pd.DataFrame, pd.Series]:
    index = pd.date_range("2024-01-01", periods=n, freq="5min", tz="UTC")
    X = pd.DataFrame({"a": np.arange(n, dtype=float)}, index=index)
    return X, label_end_from_index(index, HORIZON)


def _check(report, name: str) -> dict:  # type: ignore[no-untyped-def]
    row = report.checks.set_index("check").loc[name]
    return {"passed": bool(row["passed"]), "detail": str(row["detail"])}


# --------------------------------------------------------------------- basics
def test_newey_west_widens_for_overlapping_outcomes() -> None:
    rng = np.random.default_rng(42)
    iid = (rng.random(4000) < 0.4).astype(float)
    binomial = np.sqrt(0.4 * 0.6 / 4000)
    assert newey_west_se(iid, 12) == pytest.approx(binomial, rel=0.2)
    # Each outcome repeated over 12 bars, as with overlapping 12-bar labels.
    blocks = np.repeat((rng.random(4000 // 12) < 0.4).astype(float), 12)
    assert newey_west_se(blocks, 12) > 2 * newey_west_se(blocks, 0)


def test_recording_is_off_by_default_and_scoped() -> None:
    X, label_end = _frame()
    assert fit_scope.active_recorder() is None
    FeatureScaler().fit(X)  # no recorder: nothing happens
    with fit_scope.recording() as rec:
        split = chronological_split(X, label_end=label_end, embargo=EMBARGO)
        FeatureScaler().fit(X.iloc[split.train])
        with fit_scope.scope("inner") as name:
            assert name is not None and name.startswith("run/inner#")
    assert fit_scope.active_recorder() is None
    assert [s["part"] for s in rec.splits] == ["train|val", "val|test", "train|test"]
    (fit,) = rec.fits
    assert fit["scope"] == "run" and fit["reference"] == rec.splits[0]["id"]
    assert fit["ranges"] == rec.splits[0]["train_ranges"]


def test_bad_run_dir(tmp_path) -> None:
    with pytest.raises(RunDirectoryError, match="does not exist"):
        audit_run(tmp_path / "missing")
    (tmp_path / "half").mkdir()
    with pytest.raises(RunDirectoryError, match="run.json"):
        audit_run(tmp_path / "half")
    result = runner.invoke(app, ["audit", str(tmp_path / "missing")])
    assert result.exit_code == 2
    assert "RunDirectoryError" in result.output and "Traceback" not in result.output


# --------------------------------------------------------------------- overlap
def _record_outer_split(run_dir: Path) -> None:
    X, label_end = _frame()
    with fit_scope.recording() as rec:
        split = chronological_split(X, label_end=label_end, embargo=EMBARGO)
        FeatureScaler().fit(X.iloc[split.train])
    rec.write(run_dir)


def test_overlap_passes_a_purged_split(tmp_path) -> None:
    run_dir = _run_dir(tmp_path / "run")
    _record_outer_split(run_dir)
    report = audit_run(run_dir, checks=["overlap", "fit_scope"])
    assert report.passed, report.checks.to_dict("records")
    assert "0 training rows" in _check(report, "overlap")["detail"]


def test_overlap_catches_a_split_with_purge_disabled(tmp_path, monkeypatch) -> None:
    """Planted bug: the splitter keeps every training row (no purge)."""
    monkeypatch.setattr(splits, "_purge", lambda train, test, *a, **k: train)
    run_dir = _run_dir(tmp_path / "run")
    _record_outer_split(run_dir)
    report = audit_run(run_dir, checks=["overlap"])
    assert not report.passed
    detail = _check(report, "overlap")["detail"]
    assert "chronological_split train|val" in detail
    # label ends within h + 1 bars plus the 12-bar embargo of each test start
    assert "25 row(s)" in detail
    assert (run_dir / "audit.json").exists()
    result = runner.invoke(app, ["audit", str(run_dir)])
    assert result.exit_code == 1
    assert "FAIL" in result.output


def test_overlap_uses_the_runs_embargo_not_the_splitters(tmp_path) -> None:
    """A split purged without the embargo (the old ensemble) fails too."""
    X, label_end = _frame()
    run_dir = _run_dir(tmp_path / "run")
    with fit_scope.recording() as rec:
        chronological_split(X, label_end=label_end, embargo=pd.Timedelta(0))
    rec.write(run_dir)
    detail = _check(audit_run(run_dir, checks=["overlap"]), "overlap")
    assert not detail["passed"] and "12 row(s)" in detail["detail"]


# --------------------------------------------------------------------- fit scope
def test_fit_scope_catches_a_scaler_fitted_on_all_rows(tmp_path) -> None:
    X, label_end = _frame()
    run_dir = _run_dir(tmp_path / "run")
    with fit_scope.recording() as rec:
        chronological_split(X, label_end=label_end, embargo=EMBARGO)
        FeatureScaler().fit(X)  # planted: the full history, test period included
    rec.write(run_dir)
    result = _check(audit_run(run_dir, checks=["fit_scope"]), "fit_scope")
    assert not result["passed"]
    assert "FeatureScaler(standard) (scaler)" in result["detail"]


def test_fit_scope_follows_walk_forward_folds(tmp_path) -> None:
    X, label_end = _frame()
    run_dir = _run_dir(tmp_path / "run")
    splitter = splits.PurgedWalkForward(3, label_end=label_end, embargo=EMBARGO)
    with fit_scope.recording() as rec:
        for train, _ in splitter.split(X):
            FeatureScaler().fit(X.iloc[train])
        FeatureScaler().fit(X)  # after the loop: outside every fold, no split
    rec.write(run_dir)
    assert [f["scope"].split("/")[-1] for f in rec.fits[:3]] == [
        "fold0",
        "fold1",
        "fold2",
    ]
    result = _check(audit_run(run_dir, checks=["fit_scope"]), "fit_scope")
    assert not result["passed"]
    assert (
        "1 of 4 fits" in result["detail"]
        and "outside any recorded split" in (result["detail"])
    )


# --------------------------------------------------------------------- truncation
FILE_FEATURES = ["price_logret_1", "oi_change_1", "oi_zscore_96", "pos_ls_log"]


def _write_binance_files(folder: Path, *, stamp_shift: pd.Timedelta) -> list[Path]:
    """Binance kline CSV (+ archive metrics CSV) from simulator data.

    ``stamp_shift = 5min`` writes the kline file stamped by bar *close* time (its
    ``close_time`` column still tells the truth), the planted bug.
    """
    frame = simulate_market(days=3, seed=7).frame
    step = pd.Timedelta("5min")
    ms = 1_000_000
    folder.mkdir(parents=True, exist_ok=True)
    opens = frame.index + stamp_shift
    klines = pd.DataFrame(
        {
            "open_time": opens.asi8 // ms,
            "open": frame["open"],
            "high": frame["high"],
            "low": frame["low"],
            "close": frame["close"],
            "volume": frame["volume"],
            "close_time": (frame.index + step).asi8 // ms - 1,
            "quote_volume": frame["quote_volume"],
            "count": frame["trades"].astype(int),
            "taker_buy_volume": frame["taker_buy_volume"],
            "taker_buy_quote_volume": frame["taker_buy_quote_volume"],
            "ignore": 0,
        }
    )
    # A metrics snapshot stamped T is the state at the close of the bar ending at T.
    metrics = pd.DataFrame(
        {
            "create_time": (frame.index + step).strftime("%Y-%m-%d %H:%M:%S"),
            "symbol": "BTCUSDT",
            "sum_open_interest": frame["open_interest"],
            "sum_open_interest_value": frame["open_interest_value"],
            "count_toptrader_long_short_ratio": 1.0,
            "sum_toptrader_long_short_ratio": frame["top_trader_long_short_ratio"],
            "count_long_short_ratio": frame["long_short_ratio"],
            "sum_taker_long_short_vol_ratio": frame["taker_long_short_ratio"],
        }
    )
    paths = [folder / "BTCUSDT-5m-2024-01.csv", folder / "BTCUSDT-metrics-2024-01.csv"]
    klines.to_csv(paths[0], index=False)
    metrics.to_csv(paths[1], index=False)
    return paths


def _file_run(tmp_path: Path, shift: pd.Timedelta) -> Path:
    paths = _write_binance_files(tmp_path / "files", stamp_shift=shift)
    config = RunConfig().with_overrides(
        "data",
        source="file",
        symbol="BTCUSDT",
        interval="5m",
        paths=tuple(str(p) for p in paths),
    )
    return _run_dir(tmp_path / "run", config, FILE_FEATURES)


def test_truncation_passes_open_time_stamped_files(tmp_path) -> None:
    report = audit_run(_file_run(tmp_path, pd.Timedelta(0)), checks=["truncation"])
    result = _check(report, "truncation")
    assert result["passed"], result["detail"]
    assert "files re-loaded with rows known by T" in result["detail"]


def test_truncation_catches_a_kline_file_stamped_by_close_time(tmp_path) -> None:
    """Planted bug: bar stamps are close times. The loader's own guard refuses the
    file (its close_time column disagrees), and the audit's re-load says so."""
    report = audit_run(_file_run(tmp_path, pd.Timedelta("5min")), checks=["truncation"])
    result = _check(report, "truncation")
    assert not result["passed"]
    assert "BTCUSDT-5m-2024-01.csv" in result["detail"]
    assert "stamped by close time" in result["detail"]


def test_truncation_catches_close_time_stamps_past_a_lax_loader(
    tmp_path, monkeypatch
) -> None:
    """The same file through a loader without that guard (an older perpml, another
    loader): the as-of join hands each bar the metrics snapshot taken one bar after
    its true close, and truncation at T (rows known by T by the file's own
    close_time) removes it - the input columns and the features built on them
    differ, and are named."""
    from perpml.data.sources import file as file_source

    monkeypatch.setattr(file_source, "check_close_times", lambda item, interval: None)
    report = audit_run(_file_run(tmp_path, pd.Timedelta("5min")), checks=["truncation"])
    result = _check(report, "truncation")
    assert not result["passed"]
    assert "open_interest" in result["detail"]  # the input column is named
    assert "oi_change_1" in result["detail"]  # and the feature built from it
    assert "close times rather than open times" in result["detail"]


def test_audit_config_section(tmp_path) -> None:
    from perpml.config import load_config

    path = tmp_path / "c.toml"
    path.write_text("[audit]\nenabled = false\n")
    assert load_config(path).audit.enabled is False
    assert "[audit]\nenabled = true" in dump_config(RunConfig())


def test_permutation_selector_tail_uses_the_given_embargo() -> None:
    from perpml.evaluation.selection import select_features
    from perpml.testing.model_checks import make_model_data

    X, y = make_model_data(n_rows=400)
    label_end = label_end_from_index(X.index, HORIZON)
    with fit_scope.recording() as rec:
        select_features(
            X, y, n_features=3, method="permutation", label_end=label_end,
            embargo=EMBARGO,
        )  # fmt: skip
    (tail,) = [s for s in rec.splits if s["kind"] == "purged_tail_split"]
    assert tail["embargo_seconds"] == EMBARGO.total_seconds()
    assert min(g for g in tail["gap_before_seconds"]) > EMBARGO.total_seconds()
    assert {f["step"] for f in rec.fits} == {"selector"}


def test_a_failed_run_leaves_no_recorder_behind(tmp_path) -> None:
    from perpml.exceptions import InsufficientDataError
    from perpml.pipeline.run import run_pipeline

    config = RunConfig().with_overrides("data", days=1.0)
    with pytest.raises(InsufficientDataError):
        run_pipeline(config, tmp_path / "run", quiet=True)
    assert fit_scope.active_recorder() is None
