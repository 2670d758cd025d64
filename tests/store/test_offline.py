"""The offline store: exact round trip, append-only partitions, pruned range reads,
crash safety with a real SIGKILLed writer, and ``cached_features`` reuse."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from perpml.data import data_fingerprint
from perpml.features import build_features
from perpml.store import (
    OfflineStore,
    StoreCorruptError,
    StoreError,
    cached_features,
    default_store_dir,
    offline_feature_set_id,
    resolve_store_dir,
)

KEY = {"symbol": "BTCUSDT", "interval": "5m", "feature_set_id": "abc123"}
SRC = Path(__file__).resolve().parents[2] / "src"


class Lines:
    """A progress stand-in that records ``info`` lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, text: str) -> None:
        self.lines.append(text)


@pytest.fixture(scope="module")
def features(month_market: pd.DataFrame) -> pd.DataFrame:
    return build_features(month_market)


def _files(directory: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(directory)): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in directory.rglob("*.parquet")
    }


def test_round_trip_is_exact(tmp_path, features):
    store = OfflineStore(tmp_path)
    store.write(features, data_fingerprint="fp", meta={"attrs": features.attrs}, **KEY)
    back = store.read(**KEY)
    pd.testing.assert_frame_equal(back, features, check_exact=True, check_freq=True)
    assert back.index.name == "timestamp" and str(back.index.tz) == "UTC"
    assert back.index.dtype == features.index.dtype
    assert (back.dtypes == np.float32).all()
    # warm-up rows come back as NaN, in the same places
    np.testing.assert_array_equal(back.isna().to_numpy(), features.isna().to_numpy())
    assert features.isna().to_numpy()[0].any()
    assert back.attrs == features.attrs
    manifest = store.manifest(**KEY)
    assert manifest is not None
    assert manifest["features"] == list(features.columns)
    assert manifest["dtypes"][features.columns[0]] == "float32"
    assert manifest["start"] == features.index[0].isoformat()
    assert manifest["end"] == features.index[-1].isoformat()
    assert {"pyarrow", "pandas", "perpml"} <= set(manifest["versions"])
    assert sorted(p["month"] for p in manifest["parts"]) == ["2024-01", "2024-02"]


def test_append_adds_part_files_and_never_rewrites_history(tmp_path, features):
    store = OfflineStore(tmp_path)
    directory = store.dataset_dir(**KEY)
    cut = features.index.searchsorted(pd.Timestamp("2024-02-02", tz="UTC"))
    store.write(features.iloc[:cut], data_fingerprint="fp1", **KEY)
    before = _files(directory)
    assert sorted(before) == [
        "month=2024-01/part-00000.parquet",
        "month=2024-02/part-00001.parquet",
    ]
    store.append(features.iloc[cut:], data_fingerprint="fp2", **KEY)
    after = _files(directory)
    # every earlier file untouched (same inode, same mtime); the rest of February
    # went into a new part in the existing month partition
    assert {k: after[k] for k in before} == before
    assert sorted(set(after) - set(before)) == ["month=2024-02/part-00002.parquet"]
    pd.testing.assert_frame_equal(store.read(**KEY), features, check_exact=True)
    manifest = store.manifest(**KEY)
    assert manifest is not None and manifest["data_fingerprint"] == "fp2"
    assert manifest["n_rows"] == len(features)


def test_append_refuses_overlapping_or_different_rows(tmp_path, features):
    store = OfflineStore(tmp_path)
    store.write(features.iloc[:100], data_fingerprint="fp", **KEY)
    with pytest.raises(StoreError, match="never rewrites history"):
        store.append(features.iloc[50:150], data_fingerprint="fp", **KEY)
    with pytest.raises(StoreError, match="other columns"):
        store.append(features.iloc[100:150, :3], data_fingerprint="fp", **KEY)
    with pytest.raises(StoreError, match="no dataset committed"):
        store.append(features, data_fingerprint="fp", **{**KEY, "feature_set_id": "x"})


def test_range_read_opens_only_the_partitions_it_needs(tmp_path, features):
    store = OfflineStore(tmp_path)
    store.write(features, data_fingerprint="fp", **KEY)
    start, end = "2024-02-01 00:00", "2024-02-01 06:00"
    parts = store.parts(**KEY, start=start, end=end)
    assert [p["month"] for p in parts] == ["2024-02"]
    # Destroy the January partition: a February read must not even open it.
    january = store.dataset_dir(**KEY) / "month=2024-01" / "part-00000.parquet"
    january.write_bytes(b"not parquet")
    got = store.read(**KEY, start=start, end=end)
    want = features.loc[pd.Timestamp(start, tz="UTC") : pd.Timestamp(end, tz="UTC")]
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    with pytest.raises(StoreCorruptError, match="does not match its manifest"):
        store.read(**KEY)
    cols = list(features.columns[:3])
    pd.testing.assert_frame_equal(
        store.read(**KEY, start=start, end=end, columns=cols), want[cols]
    )


def test_verify_catches_a_same_size_corruption(tmp_path, features):
    store = OfflineStore(tmp_path)
    store.write(features.iloc[:50], data_fingerprint="fp", **KEY)
    part = store.dataset_dir(**KEY) / store.manifest(**KEY)["parts"][0]["file"]  # type: ignore[index]
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0xFF
    part.write_bytes(bytes(data))
    with pytest.raises(StoreCorruptError):
        store.read(**KEY, verify=True)


_WRITER = textwrap.dedent(
    """
    import sys, time
    import numpy as np, pandas as pd
    import pyarrow.parquet as pq
    from perpml.store import OfflineStore

    root = sys.argv[1]
    key = dict(symbol="BTCUSDT", interval="1h", feature_set_id="crash")
    index = pd.date_range("2021-01-01", periods=24 * 365, freq="h", tz="UTC",
                          name="timestamp")
    def frame(value):
        return pd.DataFrame(np.full((len(index), 4), value, np.float32), index=index,
                            columns=list("abcd"))
    store = OfflineStore(root)
    store.write(frame(1.0), data_fingerprint="v1", **key)
    real = pq.write_table
    def slow(table, where, *args, **kwargs):
        real(table, where, *args, **kwargs)
        print("PART", flush=True)
        time.sleep(0.2)   # killed somewhere in here, between parts
    pq.write_table = slow
    store.write(frame(2.0), data_fingerprint="v2", **key)
    print("DONE", flush=True)
    """
)


def test_sigkilled_writer_leaves_the_previous_version_readable(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    with subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    ) as proc:
        assert proc.stdout is not None
        seen = 0
        for line in proc.stdout:
            seen += line.startswith("PART")
            if seen == 3:  # version 2 is half written: 3 of 12 month parts
                proc.send_signal(signal.SIGKILL)
                break
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    store = OfflineStore(tmp_path)
    key = {"symbol": "BTCUSDT", "interval": "1h", "feature_set_id": "crash"}
    back = store.read(**key, verify=True)
    assert len(back) == 24 * 365 and (back.to_numpy() == 1.0).all()
    assert store.manifest(**key)["data_fingerprint"] == "v1"  # type: ignore[index]
    # the next writer commits cleanly and sweeps the dead writer's files away
    directory = store.dataset_dir(**key)
    store.write(back.iloc[:10], data_fingerprint="v3", **key)
    assert len(list(directory.rglob("*.parquet"))) == 1
    assert not list(directory.rglob("*.tmp"))


def test_cached_features_reads_second_time_and_appends_growth(tmp_path, month_market):
    lines = Lines()
    head = month_market.iloc[:-300]
    first = cached_features(head, None, tmp_path, lines)
    assert "written to the offline store" in lines.lines[-1]
    again = cached_features(head, None, tmp_path, lines)
    assert "instead of rebuilding" in lines.lines[-1]
    pd.testing.assert_frame_equal(again, first, check_exact=True)
    assert again.attrs == first.attrs
    grown = cached_features(month_market, None, tmp_path, lines)
    assert "appended 300 new bars" in lines.lines[-1]
    pd.testing.assert_frame_equal(grown, build_features(month_market), check_exact=True)
    fs_id = offline_feature_set_id(list(first.columns) + list(first.attrs["skipped"]))
    manifest = OfflineStore(tmp_path).manifest("BTCUSDT", "5m", fs_id)
    assert manifest is not None
    assert manifest["data_fingerprint"] == data_fingerprint(month_market)
    assert {s["name"] for s in manifest["feature_specs"]} >= set(first.columns)
    # different data (another first bar) -> a new version, not an append
    cached_features(month_market.iloc[10:], None, tmp_path, lines)
    assert "written to the offline store" in lines.lines[-1]
    # disabled store: plain build_features, nothing said
    n = len(lines.lines)
    cached_features(head, None, False, lines)
    assert len(lines.lines) == n


def test_store_location_flag_env_default(tmp_path, monkeypatch):
    assert resolve_store_dir(tmp_path / "x") == tmp_path / "x"
    monkeypatch.setenv("PERPML_STORE_DIR", str(tmp_path / "env"))
    assert resolve_store_dir(None) == tmp_path / "env"
    assert resolve_store_dir("") == tmp_path / "env"
    monkeypatch.delenv("PERPML_STORE_DIR")
    assert resolve_store_dir(None) == default_store_dir()
    assert default_store_dir().name == "store"
    assert default_store_dir().parent.name == "perpml"


def test_corrupt_manifest_is_a_clear_error(tmp_path, features):
    store = OfflineStore(tmp_path)
    store.write(features.iloc[:10], data_fingerprint="fp", **KEY)
    (store.dataset_dir(**KEY) / "manifest.json").write_text("{not json")
    with pytest.raises(StoreCorruptError, match="Delete the dataset directory"):
        store.read(**KEY)
    with pytest.raises(StoreError, match="No offline dataset"):
        store.read(**{**KEY, "feature_set_id": "nothing"})
    assert json  # imported for readers of the manifest format
