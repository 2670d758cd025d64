"""The Redis online store against a real server: round trip, online == offline for
every feature, a SIGKILLed writer never leaves a half-written vector, clear errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from perpml.config import RunConfig
from perpml.data.sources.synthetic import simulate_market
from perpml.features import list_features
from perpml.store import (
    OfflineStore,
    OnlineStore,
    OnlineStoreUnavailableError,
    ServingRun,
    cached_features,
    offline_feature_set_id,
)
from perpml.store.serve import AppendedFile, SimulatorReplay, write_newest
from servers import free_port

from .test_incremental import assert_close_to_batch, checked_features

SRC = Path(__file__).resolve().parents[2] / "src"


def _window(n_rows: int, columns: list[str], value: float) -> pd.DataFrame:
    index = pd.date_range(
        "2024-03-01", periods=n_rows, freq="5min", tz="UTC", unit="ns"
    )
    return pd.DataFrame(
        np.full((n_rows, len(columns)), value, np.float32), index=index, columns=columns
    )


@pytest.mark.redis
def test_round_trip_in_one_read(redis_url):
    online = OnlineStore(redis_url)
    columns = ["a", "b", "c"]
    window = _window(4, columns, 0.0)
    window.iloc[:, :] = np.arange(12, dtype=np.float32).reshape(4, 3) / 7
    stamp = online.write(
        symbol="RTUSDT", interval="5m", feature_set_id="fs1", window=window
    )
    assert stamp == window.index[-1]
    got = online.read("RTUSDT", "5m", "fs1", columns)
    assert got is not None
    np.testing.assert_array_equal(got.values, window.to_numpy()[-1])
    assert got.values.dtype == np.float32
    assert got.timestamp == window.index[-1]
    assert got.close_time == window.index[-1] + pd.Timedelta("5min")
    back = online.read_window("RTUSDT", "5m", "fs1", columns)
    pd.testing.assert_frame_equal(back, window, check_freq=False, check_names=False)
    assert online.manifest("fs1") == {
        "feature_set_id": "fs1",
        "columns": columns,
        "dtype": "<f4",
        "window_rows": 4,
    }
    assert online.feature_sets("RTUSDT", "5m") == ["fs1"]
    assert online.read("RTUSDT", "5m", "other", columns) is None


@pytest.mark.redis
def test_online_vector_equals_offline_row_for_every_feature(redis_url, tmp_path):
    market = simulate_market(days=30, seed=3, symbol="OOUSDT").frame
    # every feature but the three whose batch value depends on the history start
    # (see test_incremental.KNOWN_START_DEPENDENT)
    names = checked_features()
    cached_features(market, None, tmp_path, None)  # writes the offline store
    run = ServingRun(
        run_dir=tmp_path,
        symbol="OOUSDT",
        interval="5m",
        feature_set_id="all-features",
        features=names,
        window_rows=5,
        config=RunConfig(),
    )
    online = OnlineStore(redis_url)
    served = write_newest(run, market, online, symbol="OOUSDT")
    vector = online.read("OOUSDT", "5m", "all-features", names)
    assert vector is not None and served.timestamp == market.index[-1]
    stored = OfflineStore(tmp_path).read(
        "OOUSDT",
        "5m",
        offline_feature_set_id(list_features()["name"]),
        start=market.index[-5],
        columns=names,
    )
    got = pd.DataFrame([vector.values], index=[vector.timestamp], columns=names)
    assert_close_to_batch(got, stored)
    window = online.read_window("OOUSDT", "5m", "all-features", names)
    assert window is not None and window.index.equals(stored.index)
    assert_close_to_batch(window, stored)


_WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np, pandas as pd
    from perpml.store import OnlineStore

    online = OnlineStore(sys.argv[1])
    columns = [f"f{j}" for j in range(300)]
    index = pd.date_range("2024-03-01", periods=2000, freq="5min", tz="UTC")
    k = 0
    while True:
        k += 1
        window = pd.DataFrame(np.full((2000, 300), k, np.float32), index=index,
                              columns=columns)
        online.write(symbol="CRASHUSDT", interval="5m", feature_set_id="fs",
                     window=window)
        if k == 1:
            print("FIRST", flush=True)
    """
)


@pytest.mark.redis
def test_sigkilled_writer_never_leaves_a_half_written_vector(redis_url):
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    columns = [f"f{j}" for j in range(300)]
    online = OnlineStore(redis_url)
    with subprocess.Popen(
        [sys.executable, "-c", _WRITER, redis_url],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    ) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "FIRST"
        # Each write sends 2.4 MB; kill while it keeps writing (very likely mid-send).
        time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    vector = online.read("CRASHUSDT", "5m", "fs", columns)
    window = online.read_window("CRASHUSDT", "5m", "fs", columns)
    assert vector is not None and window is not None
    version = vector.values[0]
    assert version >= 1
    # one complete version: the vector and every window cell from the same write
    assert (vector.values == version).all()
    assert (window.to_numpy() == version).all()


def test_unreachable_redis_is_a_clear_error_naming_the_url():
    url = f"redis://127.0.0.1:{free_port()}/0"
    online = OnlineStore(url, timeout=0.5)
    with pytest.raises(OnlineStoreUnavailableError, match=url.replace(".", r"\.")):
        online.write(
            symbol="XUSDT",
            interval="5m",
            feature_set_id="fs",
            window=_window(2, ["a"], 1),
        )
    with pytest.raises(
        OnlineStoreUnavailableError, match="nothing was read or written"
    ):
        online.read("XUSDT", "5m", "fs", ["a"])


def test_simulator_replay_aligns_with_the_clock_and_paces_bars():
    now = pd.Timestamp("2024-05-01 12:07:30", tz="UTC").timestamp()
    clock = [now]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock[0] += seconds

    feed = SimulatorReplay(
        "SIMUSDT",
        "5m",
        history_bars=100,
        bars=2,
        speed=60,
        clock=lambda: clock[0],
        sleep=sleep,
    )
    history = feed.history()
    assert len(history) == 100
    # the newest history bar closes at the current 5-minute boundary
    assert history.index[-1] + pd.Timedelta("5min") == pd.Timestamp(
        "2024-05-01 12:05", tz="UTC"
    )
    first = feed.next()
    second = feed.next()
    assert first is not None and second is not None
    assert len(first) == 101 and len(second) == 102
    assert waits == pytest.approx([5.0, 5.0])  # 300 s / speed 60
    assert feed.next() is None


def test_appended_file_yields_each_new_closed_bar(tmp_path):
    market = simulate_market(days=1, seed=5, symbol="FILEUSDT").frame
    path = tmp_path / "market.parquet"
    market.iloc[:200].to_parquet(path)
    appended = iter([market.iloc[:201], market.iloc[:201], market.iloc[:203]])

    def sleep(_seconds: float) -> None:  # "meanwhile, the writer appends"
        next(appended).to_parquet(path)

    feed = AppendedFile(
        [path],
        symbol="FILEUSDT",
        interval="5m",
        poll=0.01,
        idle_timeout=0.05,
        load_options={"drop_last_bar": False},
        sleep=sleep,
    )
    assert feed.history().index[-1] == market.index[199]
    got = feed.next()
    assert got is not None and got.index[-1] == market.index[200]
    got = feed.next()  # the unchanged rewrite is skipped, then two new bars at once
    assert got is not None and got.index[-1] == market.index[202]
