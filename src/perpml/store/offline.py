"""Offline feature store: month-partitioned Parquet with a manifest, append-only.

One dataset per ``(symbol, interval, feature_set_id)`` lives in::

    STORE/<symbol>/<interval>/<feature_set_id>/
      manifest.json                  written last, atomically (temp file + rename)
      month=2024-01/part-00000.parquet
      month=2024-01/part-00003.parquet   a later append into the same month
      month=2024-02/part-00001.parquet
      .lock                          serialises writers (flock)

The manifest lists every part (month, first/last bar, rows, bytes, sha256) with the
column list, dtypes, the index (name, time zone), the data fingerprint of the market
rows the features were built from, the time range, the feature specs (name, inputs,
warm-up, parameters, source hash) and library versions. Readers only open the parts
the manifest lists, so files of a writer that died before writing its manifest are
invisible (and removed by the next writer).

Appending never rewrites history: new bars go into **new** part files, also in a
month that already has parts. A time-range read opens only the parts whose bars
overlap the range. What a reader gets is exactly what was written: dtypes, index
(values, name, time zone), column order and NaN warm-up rows.

``feature_set_id`` here identifies the *feature code* (specs, perpml version), not the
data: the data fingerprint is in the manifest, so data that grows at the end is
appended to the same dataset (see :func:`cached_features`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd

from perpml.store._parts import (
    atomic_write_bytes,
    read_part,
    remove_unlisted,
    write_parts,
)
from perpml.store.errors import StoreCorruptError, StoreError
from perpml.store.location import resolve_store_dir

__all__ = ["OfflineStore", "cached_features", "offline_feature_set_id"]

MANIFEST = "manifest.json"
_FORMAT = "perpml-offline-store"
_FORMAT_VERSION = 1
_ID_LENGTH = 12


class _Progress(Protocol):
    def info(self, text: str) -> None: ...


def offline_feature_set_id(feature_names: Sequence[str]) -> str:
    """Id of the feature code behind a set of registered features (12 hex digits).

    A sha256 over each feature's spec fingerprint (name, inputs, warm-up, parameters,
    function source) and the perpml version; the market data does not count (it is
    recorded in the manifest instead, so a growing history stays one dataset).
    """
    from perpml.features.registry import get_feature
    from perpml.features.versioning import spec_fingerprint

    payload = {
        "perpml": _versions()["perpml"],
        "features": [
            spec_fingerprint(get_feature(n)) for n in sorted(set(feature_names))
        ],
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:_ID_LENGTH]


def _utc(value: str | pd.Timestamp | None) -> pd.Timestamp | None:
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tz is None else stamp.tz_convert("UTC")


#: Libraries whose version can change stored features or their files.
_VERSIONED = ("perpml", "numpy", "pandas", "pyarrow", "numba", "ta-lib")


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str] = {}
    for name in _VERSIONED:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def _check_frame(frame: Any) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise StoreError(
            f"The offline store writes DataFrames, got {type(frame).__name__}. Pass "
            "the feature frame from build_features."
        )
    index = frame.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise StoreError(
            "The offline store needs a tz-aware DatetimeIndex of bar open times, got "
            f"{type(index).__name__}. Pass the frame build_features returned."
        )
    if not (index.is_monotonic_increasing and index.is_unique):
        raise StoreError(
            "The offline store needs a sorted, unique index (one row per bar). Sort "
            "and de-duplicate the frame first."
        )
    return frame


class OfflineStore:
    """Versioned Parquet datasets of features, one per (symbol, interval, set id).

    Parameters
    ----------
    root : path, optional
        Store directory; default ``$PERPML_STORE_DIR`` or the user cache dir +
        ``/store`` (:func:`perpml.store.location.resolve_store_dir`).
    """

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = resolve_store_dir(root)

    # ------------------------------------------------------------------ layout
    def dataset_dir(self, symbol: str, interval: str, feature_set_id: str) -> Path:
        """Directory of one dataset."""
        for name, value in (
            ("symbol", symbol),
            ("interval", interval),
            ("feature_set_id", feature_set_id),
        ):
            if not value or "/" in value or value.startswith("."):
                raise StoreError(
                    f"`{name}` must be a plain non-empty name, got {value!r}."
                )
        return self.root / symbol / interval / feature_set_id

    def manifest(
        self, symbol: str, interval: str, feature_set_id: str
    ) -> dict[str, Any] | None:
        """The dataset's manifest, or ``None`` if nothing was committed yet.

        Raises
        ------
        StoreCorruptError
            The manifest exists but is not a readable perpml store manifest.
        """
        path = self.dataset_dir(symbol, interval, feature_set_id) / MANIFEST
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            manifest = json.loads(text)
        except json.JSONDecodeError as exc:
            raise StoreCorruptError(
                f"{path} is not valid JSON ({exc}). Delete the dataset directory "
                f"{path.parent} to rebuild it."
            ) from None
        if not isinstance(manifest, dict) or manifest.get("format") != _FORMAT:
            raise StoreCorruptError(
                f"{path} is not a perpml offline-store manifest. Delete {path.parent} "
                "to rebuild it."
            )
        if manifest.get("format_version") != _FORMAT_VERSION:
            raise StoreCorruptError(
                f"{path} has format_version {manifest.get('format_version')}, this "
                f"perpml reads {_FORMAT_VERSION}. Delete {path.parent} to rebuild it."
            )
        return manifest

    @contextlib.contextmanager
    def _locked(self, directory: Path) -> Iterator[None]:
        directory.mkdir(parents=True, exist_ok=True)
        with (directory / ".lock").open("a") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    # ------------------------------------------------------------------ writes
    def write(
        self,
        frame: pd.DataFrame,
        *,
        symbol: str,
        interval: str,
        feature_set_id: str,
        data_fingerprint: str,
        mode: Literal["replace", "append"] = "replace",
        meta: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Write ``frame`` as a new version (``replace``) or add its rows (``append``).

        Parameters
        ----------
        frame : DataFrame of shape (n_bars, n_features), indexed by bar open time, UTC
            Sorted unique tz-aware index; any numeric dtypes (kept exactly).
        symbol, interval, feature_set_id : str
            The dataset key.
        data_fingerprint : str
            Fingerprint of the market rows the whole dataset (after this write) was
            built from; recorded in the manifest.
        mode : {"replace", "append"}
            ``replace`` commits a dataset holding only ``frame`` (the earlier
            version's files are removed after the new manifest is in place);
            ``append`` adds ``frame``'s rows, which must all come after the stored
            end and have the stored columns and dtypes, as new part files.
        meta : mapping, optional
            Extra JSON entries for the manifest (e.g. feature specs).

        Returns
        -------
        dict
            The committed manifest.
        """
        frame = _check_frame(frame)
        directory = self.dataset_dir(symbol, interval, feature_set_id)
        with self._locked(directory):
            old = self.manifest(symbol, interval, feature_set_id)
            if mode == "append":
                if old is None:
                    raise StoreError(
                        f"Cannot append to {directory}: no dataset committed there "
                        "yet. Write it first (mode='replace')."
                    )
                self._check_append(old, frame, directory)
                parts = list(old["parts"])
                next_part = int(old["next_part"])
                generation = int(old["generation"])
                start = old["start"]
            elif mode == "replace":
                parts = []
                next_part = int(old["next_part"]) if old else 0
                generation = int(old["generation"]) + 1 if old else 0
                start = frame.index[0].isoformat() if len(frame) else None
            else:
                raise StoreError(f"`mode` must be 'replace' or 'append', got {mode!r}.")
            new_parts, next_part = write_parts(frame, directory, next_part)
            parts.extend(new_parts)
            manifest = {
                "format": _FORMAT,
                "format_version": _FORMAT_VERSION,
                "symbol": symbol,
                "interval": interval,
                "feature_set_id": feature_set_id,
                "generation": generation,
                "features": [str(c) for c in frame.columns],
                "dtypes": {str(c): str(t) for c, t in frame.dtypes.items()},
                "index": {
                    "name": frame.index.name,
                    "tz": str(frame.index.tz),
                    "dtype": str(frame.index.dtype),
                },
                "data_fingerprint": data_fingerprint,
                "start": start,
                "end": (
                    frame.index[-1].isoformat()
                    if len(frame)
                    else (old or {}).get("end")
                ),
                "n_rows": sum(int(p["rows"]) for p in parts),
                "parts": parts,
                "next_part": next_part,
                "written_at": datetime.now(UTC).isoformat(),
                "versions": _versions(),
                **(dict(meta) if meta else {}),
            }
            if mode == "append" and old is not None:
                for key in ("attrs", "feature_specs"):
                    if key in old and key not in manifest:
                        manifest[key] = old[key]
            atomic_write_bytes(
                directory / MANIFEST,
                json.dumps(manifest, indent=1, default=str).encode("utf-8"),
            )
            remove_unlisted(directory, manifest)
        return manifest

    def append(self, frame: pd.DataFrame, **kwargs: Any) -> dict[str, Any]:
        """``write(frame, mode="append", ...)``: add rows after the stored end."""
        return self.write(frame, mode="append", **kwargs)

    @staticmethod
    def _check_append(old: Mapping[str, Any], frame: pd.DataFrame, where: Path) -> None:
        columns = [str(c) for c in frame.columns]
        if columns != old["features"]:
            raise StoreError(
                f"Cannot append to {where}: the new rows have other columns than the "
                f"stored {len(old['features'])} (got {len(columns)}). Write a new "
                "version (mode='replace') instead."
            )
        dtypes = {str(c): str(t) for c, t in frame.dtypes.items()}
        if dtypes != old["dtypes"]:
            raise StoreError(
                f"Cannot append to {where}: dtypes differ from the stored ones."
            )
        end = _utc(old.get("end"))
        if len(frame) and end is not None and frame.index[0] <= end:
            raise StoreError(
                f"Cannot append to {where}: the first new bar {frame.index[0]} is not "
                f"after the stored end {end}; appending never rewrites history."
            )

    # ------------------------------------------------------------------ reads
    def parts(
        self,
        symbol: str,
        interval: str,
        feature_set_id: str,
        *,
        start: str | pd.Timestamp | None = None,
        end: str | pd.Timestamp | None = None,
    ) -> list[dict[str, Any]]:
        """Manifest entries of the parts a read of ``[start, end]`` opens."""
        manifest = self._require(symbol, interval, feature_set_id)
        return self._select(manifest, _utc(start), _utc(end))

    @staticmethod
    def _select(
        manifest: Mapping[str, Any],
        start: pd.Timestamp | None,
        end: pd.Timestamp | None,
    ) -> list[dict[str, Any]]:
        return [
            p
            for p in manifest["parts"]
            if (start is None or pd.Timestamp(p["end"]) >= start)
            and (end is None or pd.Timestamp(p["start"]) <= end)
        ]

    def _require(
        self, symbol: str, interval: str, feature_set_id: str
    ) -> dict[str, Any]:
        manifest = self.manifest(symbol, interval, feature_set_id)
        if manifest is None:
            raise StoreError(
                f"No offline dataset for {symbol} {interval} feature set "
                f"{feature_set_id!r} under {self.root}. Run `perpml run` (which "
                "writes the store) or pass the right --store-dir."
            )
        return manifest

    def read(
        self,
        symbol: str,
        interval: str,
        feature_set_id: str,
        *,
        start: str | pd.Timestamp | None = None,
        end: str | pd.Timestamp | None = None,
        columns: Sequence[str] | None = None,
        verify: bool = False,
    ) -> pd.DataFrame:
        """Read a dataset, or the bars ``start <= t <= end`` of it.

        Only the parts overlapping the range are opened. Each part's size is checked
        against the manifest (``verify=True`` also checks its sha256).

        Returns
        -------
        DataFrame of shape (n_bars, n_columns)
            Exactly what was written: dtypes, index (name, time zone, unit), column
            order, NaN rows. ``attrs`` holds the manifest's ``attrs`` (symbol,
            interval, skipped features).

        Raises
        ------
        StoreError
            No such dataset.
        StoreCorruptError
            A listed part is missing, has the wrong size or fails its checksum.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        lo, hi = _utc(start), _utc(end)
        for attempt in range(2):
            manifest = self._require(symbol, interval, feature_set_id)
            directory = self.dataset_dir(symbol, interval, feature_set_id)
            wanted = self._select(manifest, lo, hi)
            names = list(manifest["features"]) if columns is None else list(columns)
            unknown = sorted(set(names) - set(manifest["features"]))
            if unknown:
                raise StoreError(
                    f"Columns {unknown[:5]} are not in the stored dataset "
                    f"{feature_set_id!r}."
                )
            try:
                tables = [
                    read_part(directory, part, names, verify, pq) for part in wanted
                ]
                break
            except FileNotFoundError:
                # A writer replaced the version between our manifest read and the
                # file open: read the new manifest once.
                latest = self.manifest(symbol, interval, feature_set_id)
                if (
                    attempt
                    or latest is None
                    or latest["generation"] == manifest["generation"]
                ):
                    raise StoreCorruptError(
                        f"A part listed in {directory / MANIFEST} is missing. Delete "
                        f"{directory} to rebuild the dataset."
                    ) from None
        if tables:
            frame = pa.concat_tables(tables).to_pandas()
        else:
            frame = self._empty(manifest, names)
        if lo is not None or hi is not None:
            frame = frame.loc[lo:hi]  # type: ignore[misc]
        frame.attrs = dict(manifest.get("attrs", {}))
        return frame

    @staticmethod
    def _empty(manifest: Mapping[str, Any], names: list[str]) -> pd.DataFrame:
        info = manifest["index"]
        index = pd.DatetimeIndex([], dtype=info["dtype"], name=info["name"])
        return pd.DataFrame(
            {n: np.array([], dtype=manifest["dtypes"][n]) for n in names}, index=index
        )


def cached_features(
    market: pd.DataFrame,
    categories: Sequence[str] | None = None,
    store_dir: str | os.PathLike[str] | None | Literal[False] = None,
    progress: _Progress | None = None,
) -> pd.DataFrame:
    """``build_features(market, categories=...)``, through the offline store.

    * Same market data and feature code as a stored dataset: the features are read
      (bit-identical to a rebuild) and the console says so.
    * The market extends a stored dataset (same first bar, same values up to the
      stored end): the features are built and only the new bars are appended.
    * Otherwise: built and written as a new version of the dataset.

    A store that cannot be written (read-only disk, ...) is reported and skipped; the
    features are still returned.

    Parameters
    ----------
    market : DataFrame
        Canonical market frame with ``attrs["symbol"]`` and ``attrs["interval"]``.
    categories : sequence of str, optional
        Feature categories (default all).
    store_dir : path, None or False
        Store directory (``None``: ``$PERPML_STORE_DIR`` or the default);
        ``False`` disables the store (plain :func:`build_features`).
    progress : object with ``info(text)``, optional
        Where the one-line store message goes (``PhaseProgress``).
    """
    from perpml.data.fingerprint import data_fingerprint
    from perpml.features.engine import build_features, select_feature_specs
    from perpml.features.versioning import spec_fingerprint

    def say(text: str) -> None:
        if progress is not None:
            progress.info(text)

    symbol = market.attrs.get("symbol") if isinstance(market, pd.DataFrame) else None
    interval = market.attrs.get("interval") if symbol else None
    if store_dir is False or not symbol or not interval:
        return build_features(market, categories=categories)
    specs = select_feature_specs(categories=categories)
    fs_id = offline_feature_set_id([s.name for s in specs])
    store = OfflineStore(store_dir)
    where = store.dataset_dir(symbol, interval, fs_id)
    fingerprint = data_fingerprint(market)
    try:
        manifest = store.manifest(symbol, interval, fs_id)
    except StoreCorruptError as exc:
        say(f"Offline store: {exc} Rebuilding.")
        manifest = None
    first = market.index[0].isoformat() if len(market) else None
    last = market.index[-1].isoformat() if len(market) else None
    if (
        manifest is not None
        and manifest["data_fingerprint"] == fingerprint
        and manifest["start"] == first
        and manifest["end"] == last
    ):
        try:
            features = store.read(symbol, interval, fs_id)
        except StoreError as exc:
            say(f"Offline store: {exc} Rebuilding.")
        else:
            say(
                f"Features: read {features.shape[0]:,} bars x {features.shape[1]} "
                f"features from the offline store ({where}) instead of rebuilding."
            )
            return features
    features = build_features(market, categories=categories)
    meta = {
        "attrs": dict(features.attrs),
        "feature_specs": [spec_fingerprint(s) for s in specs],
    }
    common = {
        "symbol": symbol,
        "interval": interval,
        "feature_set_id": fs_id,
        "data_fingerprint": fingerprint,
        "meta": meta,
    }
    try:
        end = pd.Timestamp(manifest["end"]) if manifest and manifest["end"] else None
        extends = (
            manifest is not None
            and end is not None
            and manifest["start"] == first
            and market.index[-1] > end
            and manifest["features"] == [str(c) for c in features.columns]
            and data_fingerprint(market.loc[:end]) == manifest["data_fingerprint"]
        )
        if extends:
            new = features.loc[features.index > end]
            store.write(new, mode="append", **common)  # type: ignore[arg-type]
            say(
                f"Features: built; appended {len(new):,} new bars to the offline "
                f"store ({where})."
            )
        else:
            store.write(features, mode="replace", **common)  # type: ignore[arg-type]
            say(
                f"Features: built and written to the offline store ({where}); a run "
                "on the same data reads them from there."
            )
    except (StoreError, OSError) as exc:
        say(f"Offline store not written ({exc}); continuing without it.")
    return features
