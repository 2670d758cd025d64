"""`perpml serve-features`, `perpml signal` and the store flags of `perpml run`."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from perpml.cli import app
from perpml.data.sources.synthetic import simulate_market
from perpml.store import (
    OnlineStore,
    SignalService,
    StaleVectorError,
)
from servers import free_port

from .conftest import RUN_ARGS

runner = CliRunner()


def _text(result) -> str:  # type: ignore[no-untyped-def]
    """Output with rich's line wrapping undone."""
    return " ".join(result.output.split())


def _serve(run_dir, redis_url, *extra):  # type: ignore[no-untyped-def]
    return runner.invoke(
        app,
        ["serve-features", "--run", str(run_dir), "--redis-url", redis_url, *extra],
    )


@pytest.mark.redis
def test_serve_once_then_signal_human_and_json(store_run, redis_url):
    run_dir, _ = store_run
    served = _serve(run_dir, redis_url, "--symbol", "CLIUSDT", "--once")
    assert served.exit_code == 0, served.output
    assert "Wrote 1 vector(s)" in served.output
    human = runner.invoke(
        app,
        [
            "signal",
            "--run",
            str(run_dir),
            "--symbol",
            "CLIUSDT",
            "--redis-url",
            redis_url,
        ],
    )
    assert human.exit_code == 0, human.output
    assert "confidence" in _text(human) and "CLIUSDT 5m bar" in _text(human)
    assert any(name in _text(human) for name in ("SHORT", "NEUTRAL", "LONG"))
    machine = runner.invoke(
        app,
        [
            "signal",
            "--run",
            str(run_dir),
            "--symbol",
            "CLIUSDT",
            "--redis-url",
            redis_url,
            "--json",
        ],
    )
    assert machine.exit_code == 0, machine.output
    payload = json.loads(machine.output)
    assert payload["signal"] in (0, 1, 2)
    assert 1 / 3 <= payload["confidence"] <= 1
    assert np.isfinite(payload["target"])
    info = json.loads((run_dir / "run.json").read_text())
    assert payload["feature_set_id"] == info["feature_set_id"]
    # the Python API gives the same decision
    decision = SignalService(run_dir, redis_url=redis_url).decide("CLIUSDT")
    assert int(decision["signal"][0]) == payload["signal"]
    assert float(decision["confidence"][0]) == pytest.approx(payload["confidence"])
    assert decision["timestamp"].isoformat() == payload["timestamp"]


@pytest.mark.redis
def test_signal_uses_the_env_redis_url(store_run, redis_url, monkeypatch):
    run_dir, _ = store_run
    monkeypatch.setenv("PERPML_REDIS_URL", redis_url)
    assert _serve(run_dir, redis_url, "--symbol", "ENVUSDT", "--once").exit_code == 0
    result = runner.invoke(
        app, ["signal", "--run", str(run_dir), "--symbol", "ENVUSDT"]
    )
    assert result.exit_code == 0, result.output


@pytest.mark.redis
def test_serve_replays_the_simulator_bar_by_bar(store_run, redis_url):
    run_dir, _ = store_run
    result = _serve(
        run_dir, redis_url, "--symbol", "REPUSDT", "--bars", "2", "--speed", "0"
    )
    assert result.exit_code == 0, result.output
    assert "Wrote 3 vector(s)" in _text(result)
    assert result.output.count("REPUSDT 20") == 3  # one line per bar


@pytest.mark.redis
def test_signal_refuses_a_stale_vector(store_run, redis_url, tmp_path):
    run_dir, _ = store_run
    # A file of historic bars: its newest bar closed long ago.
    market = simulate_market(days=30, seed=2, symbol="OLDUSDT").frame
    path = tmp_path / "old.parquet"
    market.to_parquet(path)
    served = _serve(
        run_dir,
        redis_url,
        "--symbol",
        "OLDUSDT",
        "--source",
        "file",
        "--path",
        str(path),
        "--once",
    )
    assert served.exit_code == 0, served.output
    result = runner.invoke(
        app,
        [
            "signal",
            "--run",
            str(run_dir),
            "--symbol",
            "OLDUSDT",
            "--redis-url",
            redis_url,
        ],
    )
    assert result.exit_code == 2
    assert "StaleVectorError" in _text(result) and "older than" in _text(result)
    with pytest.raises(StaleVectorError):
        SignalService(run_dir, redis_url=redis_url).decide("OLDUSDT")
    # an injected clock at that bar's close accepts it
    newest = market.index[-2]  # file sources drop the possibly still open last bar
    close = (newest + pd.Timedelta("5min")).value
    service = SignalService(run_dir, redis_url=redis_url, clock=lambda: close)
    assert service.decide("OLDUSDT")["timestamp"] == newest


@pytest.mark.redis
def test_signal_refuses_another_feature_set(store_run, redis_url):
    run_dir, _ = store_run
    window = pd.DataFrame(
        np.zeros((2, 3), np.float32),
        index=pd.date_range("2024-01-01", periods=2, freq="5min", tz="UTC"),
        columns=["a", "b", "c"],
    )
    OnlineStore(redis_url).write(
        symbol="MISUSDT", interval="5m", feature_set_id="0123456789ab", window=window
    )
    result = runner.invoke(
        app,
        [
            "signal",
            "--run",
            str(run_dir),
            "--symbol",
            "MISUSDT",
            "--redis-url",
            redis_url,
        ],
    )
    assert result.exit_code == 2
    assert "FeatureSetMismatchError" in _text(result)
    assert "0123456789ab" in _text(result)
    nothing = runner.invoke(
        app,
        [
            "signal",
            "--run",
            str(run_dir),
            "--symbol",
            "NONEUSDT",
            "--redis-url",
            redis_url,
        ],
    )
    assert nothing.exit_code == 2 and "serve-features" in _text(nothing)


def test_unreachable_redis_fails_clearly_in_both_commands(store_run):
    run_dir, _ = store_run
    url = f"redis://127.0.0.1:{free_port()}/0"
    for args in (
        ["serve-features", "--run", str(run_dir), "--once"],
        ["signal", "--run", str(run_dir)],
    ):
        result = runner.invoke(app, [*args, "--redis-url", url])
        assert result.exit_code == 2, result.output
        assert "OnlineStoreUnavailableError" in _text(result)
        assert f"127.0.0.1:{url.rsplit(':', 1)[1].split('/')[0]}" in _text(result)


def test_bad_serve_options_are_clear(store_run, tmp_path):
    run_dir, _ = store_run
    result = runner.invoke(app, ["serve-features", "--run", str(tmp_path), "--once"])
    assert result.exit_code == 2 and "not a finished perpml run" in _text(result)


def test_run_reuses_the_offline_store(store_run, tmp_path):
    run_dir, store = store_run
    # Same data and feature set, cheaper models: features come from the store.
    config = tmp_path / "fast.toml"
    config.write_text("[split]\nwalk_forward_splits = 0\n")
    again = runner.invoke(
        app,
        [
            *RUN_ARGS,
            "--config",
            str(config),
            "--out",
            str(tmp_path / "again"),
            "--store-dir",
            str(store),
        ],
    )
    assert again.exit_code == 0, again.output
    assert "from the offline store" in _text(again)
    assert "instead of rebuilding" in _text(again)
    first = json.loads((run_dir / "run.json").read_text())
    second = json.loads((tmp_path / "again" / "run.json").read_text())
    assert second["features"] == first["features"]
    # the features read from the store are the ones the first run built
    for split in ("X_train", "X_test"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(
                tmp_path
                / "again"
                / "data"
                / second["feature_set_id"]
                / f"{split}.parquet"
            ),
            pd.read_parquet(
                run_dir / "data" / first["feature_set_id"] / f"{split}.parquet"
            ),
            check_exact=True,
        )
    off = runner.invoke(
        app,
        [
            *RUN_ARGS,
            "--config",
            str(config),
            "--out",
            str(tmp_path / "off"),
            "--store-dir",
            str(store),
            "--no-store",
        ],
    )
    assert off.exit_code == 0, off.output
    assert "offline store" not in _text(off)


@pytest.mark.redis
def test_serve_follows_a_file_being_appended_to(store_run, redis_url, tmp_path):
    import threading

    run_dir, _ = store_run
    market = simulate_market(days=4, seed=4, symbol="TAILUSDT").frame
    path = tmp_path / "live.parquet"
    market.iloc[:-4].to_parquet(path)

    def append_later() -> None:
        # Two appends, so the command sees a new bar even if it started slowly;
        # the reader may catch a write half done and must simply read again.
        for delay, rows in ((1.0, -2), (1.5, None)):
            time.sleep(delay)
            market.iloc[:rows].to_parquet(path)

    writer = threading.Thread(target=append_later)
    writer.start()
    result = _serve(
        run_dir, redis_url, "--symbol", "TAILUSDT", "--source", "file",
        "--path", str(path), "--poll", "0.05", "--bars", "1",
    )  # fmt: skip
    writer.join()
    assert result.exit_code == 0, result.output
    assert "Wrote 2 vector(s)" in _text(result)
    run = json.loads((run_dir / "run.json").read_text())
    vector = OnlineStore(redis_url).read(
        "TAILUSDT", "5m", run["feature_set_id"], run["features"]
    )
    # newer than the first file's newest closed bar (file sources drop the last bar)
    assert vector is not None and vector.timestamp > market.index[-6]


def test_a_bad_symbol_is_refused_before_anything_runs(store_run):
    run_dir, _ = store_run
    for command in ("serve-features", "signal"):
        result = runner.invoke(
            app, [command, "--run", str(run_dir), "--symbol", "BTC:USDT"]
        )
        assert result.exit_code == 2, result.output
        assert "is not an exchange symbol" in _text(result)
