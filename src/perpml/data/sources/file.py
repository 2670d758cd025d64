"""Market data from local CSV / Parquet files (Binance layouts and the canonical one).

Files are grouped by what they hold (klines, metrics, open interest, funding, other
canonical feeds; :attr:`ParsedFile.layout`) and each group is concatenated in time, so
a data.binance.vision download of many monthly / daily files loads in one call. The
kline series defines the bar grid; every other group is a slower feed aligned onto
that grid *as of* the time each value became known
(:func:`perpml.data.alignment.align_asof`), so no feed value appears in a bar that
closes before it was published.
"""

from __future__ import annotations

import glob
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from perpml.data.alignment import DEFAULT_SNAP_TOLERANCE, align_asof
from perpml.data.contract import validate_market_data
from perpml.data.gaps import add_quality_note, fill_gaps
from perpml.data.liquidations import add_liquidations
from perpml.data.schema import CANONICAL_COLUMNS, interval_to_timedelta
from perpml.data.sources.binance_formats import SUFFIXES, ParsedFile, read_market_file
from perpml.data.sources.file_checks import (
    check_close_times,
    check_order,
    drop_feed_repeats,
    resolve_interval,
    resolve_symbol,
)
from perpml.exceptions import (
    ConfigError,
    DataFormatError,
    DataSourceError,
)

__all__ = ["FileSource"]

# A last bar with less than this share of the recent median volume is flagged as
# probably partial (collected while the bar was still open).
_PARTIAL_VOLUME_SHARE = 0.25

_GLOB_CHARS = ("*", "?", "[")


def _is_data_file(path: Path) -> bool:
    # Directories and patterns pick only readable data files: a data.binance.vision
    # download also holds ``*.zip.CHECKSUM`` files, editors leave hidden files.
    name = path.name
    return (
        path.is_file() and not name.startswith(".") and name.lower().endswith(SUFFIXES)
    )


def _label(files: Sequence[ParsedFile]) -> str:
    if len(files) == 1:
        return files[0].path.name
    return f"{len(files)} files ({files[0].path.name} ... {files[-1].path.name})"


def _combine(
    files: list[ParsedFile], layout: str
) -> tuple[pd.DataFrame, np.ndarray, int]:
    """Concatenate the files of one layout in time, dropping identical repeats.

    Returns the combined frame (sorted by time, stable), the position in ``files`` of
    each row's file, and the number of dropped rows. A row is dropped only when an
    earlier row of *another* file has the same time and the same values (NaN equal
    to NaN); a same-time row with other values raises. Repeats inside one file are
    kept, so the contract (klines) or ``align_asof`` (feeds) treat them as before.
    """
    if len(files) == 1:
        return files[0].frame, np.zeros(len(files[0].frame), dtype=np.int64), 0
    columns = list(files[0].frame.columns)
    for other in files[1:]:
        if set(other.frame.columns) != set(columns):
            raise DataFormatError(
                f"{layout} files must all have the same columns to be concatenated; "
                f"{str(files[0].path)!r} has {sorted(columns)} but "
                f"{str(other.path)!r} has {sorted(other.frame.columns)}. Pass files of "
                "one layout (e.g. only data.binance.vision archive files) per kind."
            )
    frame = pd.concat([f.frame[columns] for f in files])
    source = np.concatenate(
        [np.full(len(f.frame), i, dtype=np.int64) for i, f in enumerate(files)]
    )
    order = np.argsort(frame.index.asi8, kind="stable")
    frame = frame.iloc[order]
    source = source[order]
    stamps = frame.index.asi8
    first = np.searchsorted(stamps, stamps, side="left")
    repeat = (first != np.arange(len(stamps))) & (source != source[first])
    if not repeat.any():
        return frame, source, 0
    values = frame.to_numpy(dtype="float64")
    a, b = values[repeat], values[first[repeat]]
    same = ((a == b) | (np.isnan(a) & np.isnan(b))).all(axis=1)
    if not same.all():
        row = int(np.flatnonzero(repeat)[np.argmin(same)])
        base = int(first[row])
        differs = ~(
            (values[row] == values[base])
            | np.isnan(values[row]) & np.isnan(values[base])
        )
        col = int(np.argmax(differs))
        raise DataFormatError(
            f"{str(files[source[base]].path)!r} and {str(files[source[row]].path)!r} "
            f"both hold {layout} at {frame.index[row].isoformat()} with different "
            f"values ({columns[col]}: {float(values[base, col])!r} vs "
            f"{float(values[row, col])!r}). "
            "Rows repeated across files are dropped only when identical; remove one of "
            "the two files (or the overlapping rows) so each time has one value."
        )
    keep = ~repeat
    return frame.iloc[keep], source[keep], int(repeat.sum())


#: How FileSource treats missing kline bars ("raise" = refuse, the default).
GAP_HANDLING = ("raise", "flat", "drop_before")


class FileSource:
    """Load a market frame from kline files plus optional feed files.

    Parameters
    ----------
    path : str, Path or sequence of them
        Files to combine. Each entry is a file, a directory (every data file directly
        inside it: names ending with ``.csv``, ``.csv.gz``, ``.zip``, ``.gz``,
        ``.parquet`` or ``.pq``, hidden files skipped; not recursive) or a glob pattern
        such as ``"data/BTCUSDT-5m-2024-*.zip"`` (same filter). Directory and pattern
        matches are taken in name order; a file reached twice is read once. Each file
        is recognised by its columns (see :mod:`perpml.data.sources.binance_formats`)
        and grouped with the files of the same kind: klines, metrics, open interest,
        funding or other canonical feeds. Each group is concatenated and sorted by
        time; a row repeated in several files is dropped when identical and raises
        :class:`~perpml.exceptions.DataFormatError` when the values differ. At least
        one kline file is required; the kline files define the bar grid, all of one
        interval and symbol.
    funding_rate_scale : float, default 1.0
        Multiplier for funding rates, e.g. ``8`` when a file stores Binance's 8-hour
        rate divided by 8.
    drop_last_bar : bool, default True
        Drop the last kline of the combined series. Dumps taken from the REST API
        usually end with the bar that was still open when they were collected, whose
        "close" is not a close; losing one complete bar of an archive costs almost
        nothing. A quality note records the drop. With ``False`` the bar is kept and a
        note flags it when its volume is below 25 % of the median of the previous 288
        bars.
    max_staleness : Timedelta or str, optional
        Age after which an aligned feed value becomes NaN. Default: twice each feed's
        median spacing (10 min for 5m metrics, 16 h for 8-hourly funding).
    snap_tolerance : Timedelta or str, default 10 s
        Feed timestamps this close after a whole minute are snapped down to it
        (Binance funding times carry a few ms, some snapshots ~2 s of jitter).
    gaps : {"raise", "flat", "drop_before"}, default "raise"
        What to do with missing kline bars. ``"raise"`` (default) refuses the data
        with the contract's ``gap`` error; the others opt in to
        :func:`perpml.data.fill_gaps` with that policy (``"flat"`` inserts flat bars,
        ``"drop_before"`` keeps the bars after the last gap), recorded in the quality
        notes.
    max_gap : int, optional
        With ``gaps="flat"``: the longest run of missing bars that may be filled;
        a longer gap raises.

    Notes
    -----
    Feed timestamps are the times the values became known (funding settlement time,
    snapshot time). Kline timestamps are bar open times; a ``close_time`` column
    must agree (see :func:`~perpml.data.sources.file_checks.check_close_times`).
    Symbol and interval come from the data when not given (:meth:`load`); a file's
    ``symbol`` column and the symbol in a data.binance.vision file name
    (``BTCUSDT-5m-2024-01.zip``) must match a given symbol. Before anything else,
    each kline file is checked for shuffled rows and interleaved series
    (:mod:`perpml.data.sources.file_checks`), so the first error names the cause.
    The output is never repaired silently: a gap
    between two kline files, like one inside a file, raises the contract's ``gap``
    error naming ``perpml.data.fill_gaps``; duplicates inside a
    file raise the contract error that names the repair. Apply it to the frame
    yourself (``pd.read_csv`` + ``perpml.data.fill_gaps`` ...) or fix the files.
    """

    name = "file"
    #: Symbol and interval may be left None: they are read from the data.
    infers_market = True
    #: ``load`` takes ``start`` / ``end``.
    supports_range = True

    def __init__(
        self,
        path: str | Path | Sequence[str | Path],
        *,
        funding_rate_scale: float = 1.0,
        drop_last_bar: bool = True,
        max_staleness: pd.Timedelta | str | None = None,
        snap_tolerance: pd.Timedelta | str = DEFAULT_SNAP_TOLERANCE,
        gaps: str = "raise",
        max_gap: int | None = None,
    ) -> None:
        self.path = path
        self.gaps = gaps
        self.max_gap = max_gap
        self.funding_rate_scale = funding_rate_scale
        self.drop_last_bar = drop_last_bar
        self.max_staleness = max_staleness
        self.snap_tolerance = snap_tolerance

    # -- helpers --------------------------------------------------------------------

    def _paths(self) -> list[Path]:
        """The files to read: directories and glob patterns expanded, repeats once."""
        raw = self.path
        items = [raw] if isinstance(raw, str | Path) else list(raw)
        if not items or not all(isinstance(p, str | Path) for p in items):
            raise ConfigError(
                "`path` must be a file path or a non-empty sequence of paths; got "
                f"{raw!r}. Pass e.g. path=['klines.csv', 'metrics.csv']."
            )
        found: list[Path] = []
        for item in items:
            path, text = Path(item), str(item)
            if path.is_dir():
                inside = sorted(
                    (c for c in path.iterdir() if _is_data_file(c)),
                    key=lambda c: c.name,
                )
                if not inside:
                    raise DataSourceError(
                        f"Directory {text!r} holds no market-data file (names ending "
                        f"with {', '.join(SUFFIXES)}). Point `path` at the folder "
                        "with the downloaded files (unzipping is not needed)."
                    )
                found.extend(inside)
            elif not path.exists() and any(ch in text for ch in _GLOB_CHARS):
                matches = sorted(
                    (Path(m) for m in glob.glob(text) if _is_data_file(Path(m))),
                    key=str,
                )
                if not matches:
                    raise DataSourceError(
                        f"No market-data file matches the pattern {text!r}. Check the "
                        "folder and the pattern (e.g. 'data/BTCUSDT-5m-*.zip')."
                    )
                found.extend(matches)
            else:
                found.append(path)  # a missing file raises when read
        unique: dict[Path, Path] = {}
        for path in found:
            unique.setdefault(path.resolve(), path)
        return list(unique.values())

    def _check_options(self) -> None:
        scale = self.funding_rate_scale
        if (
            isinstance(scale, bool)
            or not isinstance(scale, int | float)
            or not scale > 0
        ):
            raise ConfigError(
                f"`funding_rate_scale` must be a positive number, got {scale!r}. Pass 8 "
                "for files that store the 8-hour rate divided by 8, else 1."
            )
        if not isinstance(self.drop_last_bar, bool):
            raise ConfigError(
                f"`drop_last_bar` must be True or False, got {self.drop_last_bar!r}."
            )
        if self.gaps not in GAP_HANDLING:
            raise ConfigError(
                f"`gaps` must be one of {list(GAP_HANDLING)}, got {self.gaps!r}. "
                "Pass --gaps flat (config key [data] gaps; gaps='flat' in Python) to fill missing bars explicitly."
            )

    def _handle_last_bar(self, klines: pd.DataFrame, path: Path) -> pd.DataFrame:
        if klines.empty:
            return klines
        last = klines.index[-1]
        if self.drop_last_bar:
            out = klines.iloc[:-1].copy()
            out.attrs = dict(klines.attrs)
            add_quality_note(
                out,
                f"dropped the last bar {last.isoformat()} of {path.name} (may be partial: "
                "collected while still open); pass --keep-last-bar (config key [data] "
                "drop_last_bar = false; drop_last_bar=False in Python) to keep it.",
            )
            return out
        recent = klines["volume"].iloc[-289:-1]
        if (
            len(recent)
            and klines["volume"].iloc[-1] < _PARTIAL_VOLUME_SHARE * recent.median()
        ):
            add_quality_note(
                klines,
                f"the last bar {last.isoformat()} of {path.name} looks partial (volume "
                f"below {_PARTIAL_VOLUME_SHARE:.0%} of the recent median); consider "
                "--drop-last-bar (config key [data] drop_last_bar = true).",
            )
        return klines

    # -- public ---------------------------------------------------------------------

    def load(
        self,
        symbol: str | None = None,
        days: float | None = None,
        interval: str | None = None,
        *,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        """Read the files, combine them per kind, align the feeds and validate.

        Parameters
        ----------
        symbol : str or None
            ``None``: inferred from the data (a ``symbol`` column, Binance archive
            file names such as ``BTCUSDT-5m-2024-01.zip``, else a symbol at the start
            of the kline file name such as ``ETHUSDT_1h.csv``); raises
            :class:`ConfigError` asking for ``--symbol`` when none says it. A given
            symbol must match the data's.
        days : float or None
            Keep the bars whose open time is within ``days`` of the last bar's close;
            ``None`` keeps everything.
        interval : str or None
            ``None``: the kline files' bar spacing. A given interval must equal it.
        start, end : Timestamp, optional
            Keep the bars whose open time lies in ``[start, end]`` (UTC); applied
            before ``days``.

        Returns
        -------
        DataFrame of shape (n_bars, n_columns), indexed by bar open time, UTC
            Canonical float64 columns; ``attrs`` has ``symbol``, ``interval``,
            ``source`` (``"file"``), ``files`` (every file read, directories and
            patterns expanded), ``resolved`` (how symbol and interval were found)
            and ``quality_notes``. Feeds are aligned onto the kept bars only, so
            every note counts over the returned window.

        Raises
        ------
        perpml.exceptions.DataSourceError
            A file does not exist; a directory or pattern holds no data file.
        perpml.exceptions.DataFormatError
            Unreadable, truncated or unrecognised file; symbols or intervals that
            differ between files or from the given ones; no kline file; files of
            one kind with different columns; a time held by two files with
            different values; two kinds providing the same column.
        perpml.exceptions.ConfigError
            Bad options; no symbol given and none inferable; no bar in the window.
        perpml.exceptions.DataContractError
            Shuffled kline rows (reported alone), close-time stamps, a feed time
            with conflicting rows, or a combined frame that breaks the contract.
        """
        self._check_options()
        if interval is not None:
            interval_to_timedelta(interval)
        if days is not None and (isinstance(days, bool) or not 0 < days < np.inf):
            raise ConfigError(
                f"`days` (--days) must be a positive, finite number or None, got "
                f"{days!r}."
            )
        paths = self._paths()
        parsed = [
            read_market_file(p, funding_rate_scale=float(self.funding_rate_scale))
            for p in paths
        ]
        groups: dict[str, list[ParsedFile]] = {}
        for item in parsed:
            groups.setdefault(item.layout, []).append(item)
        price = groups.pop("klines", [])
        if not price:
            raise DataFormatError(
                "A kline file (open, high, low, close, volume) must define the bar "
                f"grid; got none among {[str(p.path) for p in parsed]}. Pass kline "
                "files plus feed files (metrics, open interest, funding)."
            )
        symbol, symbol_how = resolve_symbol(parsed, symbol)
        for item in price:
            check_order(item)
        interval, interval_how = resolve_interval(price, interval)
        step = interval_to_timedelta(interval)
        for item in price:
            check_close_times(item, interval)
        klines, source, n_dropped = _combine(price, "klines")
        klines = klines.copy()
        klines.attrs = {"symbol": symbol, "interval": interval, "source": self.name}
        for note in (n for item in parsed for n in item.notes):
            add_quality_note(klines, note)
        if "file name says" in symbol_how:
            add_quality_note(
                klines,
                f"symbol {symbol} was given (--symbol), but {symbol_how[7:]}; the "
                "files hold no symbol column to check.",
            )
        if len(price) > 1:
            add_quality_note(
                klines,
                f"klines from {_label(price)}, {klines.index[0].isoformat()} to "
                f"{klines.index[-1].isoformat()}; dropped {n_dropped} row(s) repeated "
                "identically in another file.",
            )
        last_file = price[int(source[-1])].path if len(source) else price[0].path
        klines = self._handle_last_bar(klines, last_file)
        klines = _window(klines, step, days, start, end)
        if self.gaps != "raise":
            klines = fill_gaps(
                klines,
                policy=self.gaps,  # type: ignore[arg-type]  # checked above
                interval=interval,
                max_gap=self.max_gap,
            )
        # The grid must be a valid price frame before anything is aligned onto it.
        validate_market_data(klines, interval=interval, min_rows=1)
        out = klines.copy()
        out.attrs = dict(klines.attrs)
        for layout, files in groups.items():
            if layout == "liquidations":  # events: summed per bar (0 when none)
                feed, _, _ = _combine(files, layout)
                add_liquidations(out, feed, interval, _label(files))
                continue
            self._add_feed(out, layout, files, interval)
        notes = list(out.attrs.get("quality_notes", []))
        out = out[[c for c in CANONICAL_COLUMNS if c in out.columns]]
        out = out.astype("float64")
        out.index.name = "timestamp"
        out.attrs = {
            "symbol": symbol,
            "interval": interval,
            "source": self.name,
            "files": [str(p) for p in paths],
            "resolved": {"symbol": symbol_how, "interval": interval_how},
            "quality_notes": notes,
        }
        return validate_market_data(out, interval=interval, min_rows=1)

    def _add_feed(
        self, out: pd.DataFrame, layout: str, files: list[ParsedFile], interval: str
    ) -> None:
        """Align one feed group onto ``out`` (in place) and note what was done."""
        feed, _, n_dropped = _combine(files, layout)
        label = _label(files)
        feed, n_repeats = drop_feed_repeats(feed, layout, label, self.snap_tolerance)
        clash = [c for c in feed.columns if c in out.columns]
        if clash:
            raise DataFormatError(
                f"{label} provides {clash}, which another file already provides. "
                "Pass only one source per column."
            )
        aligned = align_asof(
            feed,
            out.index,
            interval=interval,
            max_staleness=self.max_staleness,
            snap_tolerance=self.snap_tolerance,
        )
        for col in aligned.columns:
            out[col] = aligned[col]
        known = feed.index
        n_nan = int(aligned.isna().all(axis=1).sum())
        repeated = (
            f"; dropped {n_dropped} row(s) repeated identically in another file"
            if len(files) > 1
            else ""
        )
        if n_repeats:
            repeated += f"; dropped {n_repeats} identical repeated row(s)"
        add_quality_note(
            out,
            f"{', '.join(aligned.columns)} from {label}: aligned as of the "
            f"time known ({known.min().isoformat()} to {known.max().isoformat()}, "
            f"max_staleness {aligned.attrs['max_staleness']}); {n_nan} of "
            f"{len(out)} bars without a value{repeated}.",
        )
        dropped = sorted({c for f in files for c in f.dropped})
        if dropped:
            add_quality_note(out, f"ignored columns {dropped} of {label}.")


def _window(
    klines: pd.DataFrame,
    step: pd.Timedelta,
    days: float | None,
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
) -> pd.DataFrame:
    """Keep the bars in ``[start, end]`` and within ``days`` of the last one's close."""
    if days is None and start is None and end is None:
        return klines
    keep = np.ones(len(klines), dtype=bool)
    if start is not None:
        keep &= klines.index >= start
    if end is not None:
        keep &= klines.index <= end
    if days is not None and keep.any():
        last = klines.index[np.flatnonzero(keep)[-1]]
        keep &= klines.index >= last + step - pd.Timedelta(days=float(days))
    if not keep.any():
        shown = " and ".join(
            f"--{name} {value.isoformat()}"
            for name, value in (("start", start), ("end", end))
            if value is not None
        )
        raise ConfigError(
            f"No bar of the data lies in the requested window ({shown}); the data "
            f"covers {klines.index[0].isoformat()} to {klines.index[-1].isoformat()}. "
            "Pass --start/--end inside that range."
        )
    out = klines.loc[keep]
    out.attrs = dict(klines.attrs)
    return out
