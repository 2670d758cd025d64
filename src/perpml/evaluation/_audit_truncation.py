"""Truncation check of the leakage audit (internal; see :mod:`perpml.evaluation.audit`).

The run's own source is re-loaded as it stood at several cut times ``T`` and every
feature the run selected is rebuilt from it; rows present in both the truncated and
the full-history build must agree. For files this goes through the loader: each
input file is copied keeping only the rows known by ``T``,

* kline rows: known when the bar closes — the file's ``close_time`` column when it
  has one (Binance's own statement, rounded up to the second), else the stamp plus
  the bar interval (the file's stamps being open times, as perpml reads them);
* feed rows (metrics, open interest, funding): known at their stamp, after the
  loader's documented snap of jittered stamps (``snap_tolerance``, 10 s) down to
  the minute,

and the copies are loaded with the run's options (``drop_last_bar`` off: a copy
holds complete bars only). A kline file stamped by close time then disagrees with
its ``close_time`` column, and the as-of join puts feed values known after a bar's
true close into it; the truncated build cannot see them and differs. The
simulator is re-simulated up to ``T`` (its paths are prefix-stable). Other sources
are truncated after loading (feature code only), which the detail says.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from perpml.config import RunConfig
from perpml.data.schema import interval_to_timedelta

__all__ = ["TruncationResult", "cut_times", "load_run_market", "truncation_check"]

#: Share of the bars at which the history is cut (the last ones fall in the test
#: period, where a leak flatters the reported scores).
CUT_FRACTIONS = (0.5, 0.7, 0.85, 0.95)
#: float32 features rebuilt from identical inputs agree to rounding; a leak moves
#: values by orders of magnitude more.
RTOL, ATOL = 1e-5, 1e-8


@dataclass(frozen=True)
class TruncationResult:
    """Outcome of the truncation check: pass flag, detail text, what differed."""

    passed: bool
    detail: str
    differing_features: tuple[str, ...]
    differing_inputs: tuple[str, ...]


def _load(config: RunConfig, **override: Any) -> pd.DataFrame:
    """Load the run's market like ``perpml run`` did (with ``override`` applied)."""
    from perpml.data import load_market_data

    data = config.data
    common: dict[str, Any] = {
        "symbol": data.symbol,
        "days": data.days,
        "interval": data.interval,
        "start": data.start,
        "end": data.end,
    }
    paths = override.pop("path", list(data.paths))
    common.update({k: v for k, v in override.items() if k in common})
    rest = {k: v for k, v in override.items() if k not in common}
    if data.source == "synthetic":
        return load_market_data("synthetic", **common, seed=data.seed)
    if data.source == "file":
        options = {
            "funding_rate_scale": data.funding_rate_scale,
            "drop_last_bar": data.drop_last_bar,
            "gaps": data.gaps,
            "max_gap": data.max_gap,
            **rest,
        }
        return load_market_data("file", **common, path=paths, **options)
    return load_market_data(data.source, **common)


def load_run_market(config: RunConfig) -> pd.DataFrame:
    """The run's full-history market frame, re-loaded from its source."""
    return _load(config)


def cut_times(market: pd.DataFrame) -> list[pd.Timestamp]:
    """Bar close times at :data:`CUT_FRACTIONS` of the market's bars."""
    step = interval_to_timedelta(market.attrs["interval"])
    n = len(market)
    positions = sorted({min(n - 2, max(1, int(f * n))) for f in CUT_FRACTIONS})
    return [market.index[p] + step for p in positions]


def _snap(times: pd.DatetimeIndex) -> pd.DatetimeIndex:
    from perpml.data.alignment import DEFAULT_SNAP_TOLERANCE

    floor = times.floor("min")
    return floor.where(times - floor <= pd.Timedelta(DEFAULT_SNAP_TOLERANCE), times)


def _known_times(raw: pd.DataFrame, step: pd.Timedelta) -> pd.DatetimeIndex:
    """When each row of a raw market file was known (see the module docstring)."""
    from perpml.data.sources.binance_formats import ALIASES, TIME_COLUMNS, parse_times

    lower = [str(c).strip().lower() for c in raw.columns]
    frame = raw.set_axis(lower, axis=1)
    time_col = next(c for c in TIME_COLUMNS if c in lower)
    stamps = parse_times(frame[time_col], time_col)
    is_klines = any(ALIASES.get(c) == "close" for c in lower)
    if not is_klines:
        return _snap(stamps)
    if "close_time" in lower:
        return parse_times(frame["close_time"], "close_time").ceil("s")
    return stamps + step


def _write_truncated(
    files: list[Path], cut: pd.Timestamp, step: pd.Timedelta, out: Path
) -> list[Path]:
    """Copies of ``files`` holding only rows known by ``cut`` (empty ones left out)."""
    from perpml.data.sources.binance_formats import _read_raw

    written: list[Path] = []
    for i, path in enumerate(files):
        raw, _ = _read_raw(path)
        keep = np.asarray(_known_times(raw, step) <= cut)
        if not keep.any():
            continue
        name = path.name
        for suffix in (".csv.gz", ".csv.zip", ".zip", ".gz", ".parquet", ".pq"):
            if name.lower().endswith(suffix):
                name = name[: -len(suffix)]
                break
        else:
            name = name[: -len(".csv")] if name.lower().endswith(".csv") else name
        folder = out / str(i)  # one folder per file keeps names (and their meaning)
        folder.mkdir(parents=True, exist_ok=True)
        if path.name.lower().endswith((".parquet", ".pq")):
            target = folder / f"{name}.parquet"
            raw.loc[keep].to_parquet(target)
        else:
            target = folder / f"{name}.csv"
            raw.loc[keep].to_csv(target, index=False)
        written.append(target)
    return written


def _truncated_market(
    config: RunConfig,
    full: pd.DataFrame,
    cut: pd.Timestamp,
    tmp: Path,
) -> tuple[pd.DataFrame, str]:
    """The market as it stood at ``cut`` and how it was obtained."""
    step = interval_to_timedelta(full.attrs["interval"])
    start = full.index[0]
    if config.data.source == "synthetic":
        return _load(config, start=start, end=cut, days=None), "re-simulated"
    if config.data.source == "file":
        from perpml.data.sources.file import FileSource

        files = FileSource(list(config.data.paths))._paths()
        copies = _write_truncated(files, cut, step, tmp / cut.strftime("%Y%m%dT%H%M"))
        market = _load(
            config, path=copies, start=start, end=None, days=None, drop_last_bar=False
        )
        return market, "files re-loaded with rows known by T"
    frame = full.loc[full.index + step <= cut]
    frame.attrs = dict(full.attrs)
    return frame, "frame truncated after loading (the loader is not re-run)"


def _differences(
    full: pd.DataFrame, cut_frame: pd.DataFrame, *, exact: bool
) -> dict[str, pd.Timestamp]:
    """``{column: first differing timestamp}`` over the rows of ``cut_frame``."""
    rows = cut_frame.index.intersection(full.index)
    out: dict[str, pd.Timestamp] = {}
    for column in cut_frame.columns:
        if column not in full.columns:
            continue
        a = full.loc[rows, column].to_numpy(np.float64)
        b = cut_frame.loc[rows, column].to_numpy(np.float64)
        if exact:
            same = (a == b) | (np.isnan(a) & np.isnan(b))
        else:
            same = np.isclose(a, b, rtol=RTOL, atol=ATOL, equal_nan=True)
        if not same.all():
            out[str(column)] = rows[int(np.argmin(same))]
    return out


def truncation_check(
    config: RunConfig,
    features: list[str],
    full: pd.DataFrame,
    cuts: list[pd.Timestamp] | None = None,
) -> TruncationResult:
    """Rebuild ``features`` at each cut time and compare with the full history.

    Parameters
    ----------
    config : RunConfig
        The run's resolved config (``RUN_DIR/config.toml``).
    features : list of str
        The run's selected features (``run.json`` ``features``).
    full : DataFrame
        The full-history market (:func:`load_run_market`).
    cuts : list of Timestamp, optional
        Cut times (default :func:`cut_times`).

    Returns
    -------
    TruncationResult
    """
    from perpml.exceptions import FeatureError
    from perpml.features import build_features

    cuts = cut_times(full) if cuts is None else cuts
    try:
        full_features = build_features(full, include=features)
    except FeatureError as exc:
        return TruncationResult(
            False, f"cannot rebuild the run's features: {exc}", (), ()
        )
    bad_inputs: dict[str, tuple[pd.Timestamp, pd.Timestamp]] = {}
    bad_features: dict[str, tuple[pd.Timestamp, pd.Timestamp]] = {}
    not_compared: set[str] = set()
    how = ""
    with tempfile.TemporaryDirectory(prefix="perpml-audit-") as tmp:
        for cut in cuts:
            market, how = _truncated_market(config, full, cut, Path(tmp))
            for col, when in _differences(full, market, exact=True).items():
                bad_inputs.setdefault(col, (when, cut))
            built = build_features(market, include=features)
            not_compared |= set(features) - set(built.columns)
            for col, when in _differences(full_features, built, exact=False).items():
                bad_features.setdefault(col, (when, cut))
    cut_text = ", ".join(c.isoformat() for c in cuts)
    if not bad_inputs and not bad_features:
        detail = (
            f"{len(features)} features and every input column identical at "
            f"{len(cuts)} cut times ({cut_text}; {how})"
        )
        if not_compared:
            detail += f"; not built on the truncated data: {sorted(not_compared)}"
        return TruncationResult(True, detail, (), ())
    parts = []
    hint = ""
    step = interval_to_timedelta(full.attrs["interval"])
    if any(when + step > cut for when, cut in bad_inputs.values()):
        hint = (
            " - a differing row's bar closes after T by its stamp, yet its file says it "
            "was known by T: are the kline stamps close times rather than open times?"
        )
    if bad_inputs:
        shown = "; ".join(
            f"{col} (row {when.isoformat()}, cut {cut.isoformat()})"
            for col, (when, cut) in list(bad_inputs.items())[:5]
        )
        parts.append(
            f"input column(s) differ when the source is cut at T - the loader uses "
            f"data not known by T: {shown}{hint}"
        )
    if bad_features:
        shown = "; ".join(
            f"{col} (row {when.isoformat()}, cut {cut.isoformat()})"
            for col, (when, cut) in list(bad_features.items())[:5]
        )
        parts.append(f"feature(s) change when later data is removed: {shown}")
    return TruncationResult(
        False,
        " | ".join(parts) + f" ({how})",
        tuple(bad_features),
        tuple(bad_inputs),
    )
