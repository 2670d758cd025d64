"""Market data from local CSV / Parquet files (Binance layouts and the canonical one).

Exactly one kline file defines the bar grid; every other file is a slower feed
(open interest, long/short ratios, funding) aligned onto that grid *as of* the time
each value became known (:func:`perpml.data.alignment.align_asof`), so no feed value
appears in a bar that closes before it was published.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from perpml.data.alignment import DEFAULT_SNAP_TOLERANCE, align_asof
from perpml.data.contract import validate_market_data
from perpml.data.gaps import add_quality_note
from perpml.data.schema import CANONICAL_COLUMNS, infer_interval, interval_to_timedelta
from perpml.data.sources.binance_formats import ParsedFile, read_market_file
from perpml.exceptions import ConfigError, DataContractError, DataFormatError

__all__ = ["FileSource"]

# A last bar with less than this share of the recent median volume is flagged as
# probably partial (collected while the bar was still open).
_PARTIAL_VOLUME_SHARE = 0.25


class FileSource:
    """Load a market frame from one kline file plus optional feed files.

    Parameters
    ----------
    path : str, Path or sequence of them
        Files to combine. Exactly one must hold klines (open, high, low, close,
        volume); the others are feeds (metrics, open interest, funding). Each file is
        recognised by its columns (see :mod:`perpml.data.sources.binance_formats`).
    funding_rate_scale : float, default 1.0
        Multiplier for funding rates, e.g. ``8`` when a file stores Binance's 8-hour
        rate divided by 8.
    drop_last_bar : bool, default True
        Drop the last kline. Dumps taken from the REST API usually end with the bar
        that was still open when they were collected, whose "close" is not a close;
        losing one complete bar of an archive costs almost nothing. A quality note
        records the drop. With ``False`` the bar is kept and a note flags it when its
        volume is below 25 % of the median of the previous 288 bars.
    max_staleness : Timedelta or str, optional
        Age after which an aligned feed value becomes NaN. Default: twice each feed's
        median spacing (10 min for 5m metrics, 16 h for 8-hourly funding).
    snap_tolerance : Timedelta or str, default 10 s
        Feed timestamps this close after a whole minute are snapped down to it
        (Binance funding times carry a few ms, some snapshots ~2 s of jitter).

    Notes
    -----
    Feed timestamps are the times the values became known (funding settlement time,
    snapshot time). Kline timestamps are bar open times. A file's ``symbol`` column
    must match the requested symbol. The output is never repaired silently: files
    with gaps, duplicates or unsorted rows raise the contract error that names the
    repair; apply it to the frame yourself (``pd.read_csv`` + ``perpml.data.fill_gaps``
    ...) or fix the file.
    """

    name = "file"

    def __init__(
        self,
        path: str | Path | Sequence[str | Path],
        *,
        funding_rate_scale: float = 1.0,
        drop_last_bar: bool = True,
        max_staleness: pd.Timedelta | str | None = None,
        snap_tolerance: pd.Timedelta | str = DEFAULT_SNAP_TOLERANCE,
    ) -> None:
        self.path = path
        self.funding_rate_scale = funding_rate_scale
        self.drop_last_bar = drop_last_bar
        self.max_staleness = max_staleness
        self.snap_tolerance = snap_tolerance

    # -- helpers --------------------------------------------------------------------

    def _paths(self) -> list[Path]:
        raw = self.path
        items = [raw] if isinstance(raw, str | Path) else list(raw)
        if not items or not all(isinstance(p, str | Path) for p in items):
            raise ConfigError(
                "`path` must be a file path or a non-empty sequence of paths; got "
                f"{raw!r}. Pass e.g. path=['klines.csv', 'metrics.csv']."
            )
        return [Path(p) for p in items]

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

    @staticmethod
    def _check_symbol(parsed: ParsedFile, symbol: str) -> None:
        wrong = [s for s in parsed.symbols if s != symbol.upper()]
        if wrong:
            raise DataFormatError(
                f"{str(parsed.path)!r} holds symbol(s) {list(parsed.symbols)}, but "
                f"symbol={symbol!r} was requested. Pass the file's symbol or filter the "
                "file to one symbol."
            )

    def _check_interval(self, parsed: ParsedFile, interval: str) -> None:
        index = parsed.frame.index
        if len(index) < 2:
            return
        try:
            found = infer_interval(index.sort_values())
        except DataContractError as err:
            raise DataFormatError(f"{str(parsed.path)!r}: {err}") from None
        if found != interval:
            raise DataFormatError(
                f"{str(parsed.path)!r} holds {found} klines, but interval={interval!r} "
                f"was requested. Pass interval={found!r} (resampling is not supported "
                "yet)."
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
                "collected while still open); pass drop_last_bar=False to keep it.",
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
                "drop_last_bar=True.",
            )
        return klines

    # -- public ---------------------------------------------------------------------

    def load(self, symbol: str, days: float | None, interval: str) -> pd.DataFrame:
        """Read the files, align the feeds onto the kline grid and validate.

        Parameters
        ----------
        symbol : str
            Must match every file's ``symbol`` column (files without one are trusted).
        days : float or None
            Keep the bars whose open time is within ``days`` of the last bar's close;
            ``None`` keeps everything.
        interval : str
            Must equal the kline file's spacing.

        Returns
        -------
        DataFrame of shape (n_bars, n_columns), indexed by bar open time, UTC
            Canonical float64 columns; ``attrs`` has ``symbol``, ``interval``,
            ``source`` (``"file"``), ``files`` and ``quality_notes``.

        Raises
        ------
        perpml.exceptions.DataSourceError
            A file does not exist.
        perpml.exceptions.DataFormatError
            Unreadable / unrecognised file, wrong symbol or interval, not exactly one
            kline file, two files providing the same column.
        perpml.exceptions.DataContractError
            The combined frame breaks the contract (gaps, duplicates, ...).
        """
        self._check_options()
        step = interval_to_timedelta(interval)
        if days is not None and (isinstance(days, bool) or not days > 0):
            raise ConfigError(
                f"`days` must be a positive number or None, got {days!r}."
            )
        paths = self._paths()
        parsed = [
            read_market_file(p, funding_rate_scale=float(self.funding_rate_scale))
            for p in paths
        ]
        for item in parsed:
            self._check_symbol(item, symbol)
        price = [p for p in parsed if p.kind == "klines"]
        if len(price) != 1:
            names = [str(p.path) for p in price] or [str(p.path) for p in parsed]
            raise DataFormatError(
                f"Exactly one kline file (open, high, low, close, volume) must define the "
                f"bar grid; got {len(price)} among {names}. Pass one kline file plus "
                "feed files (metrics, open interest, funding)."
            )
        klines_file = price[0]
        self._check_interval(klines_file, interval)
        klines = klines_file.frame
        klines.attrs = {"symbol": symbol, "interval": interval, "source": self.name}
        klines = self._handle_last_bar(klines, klines_file.path)
        # The grid must be a valid price frame before anything is aligned onto it.
        validate_market_data(klines, interval=interval, min_rows=1)
        out = klines.copy()
        out.attrs = dict(klines.attrs)
        for feed in (p for p in parsed if p.kind == "feed"):
            clash = [c for c in feed.frame.columns if c in out.columns]
            if clash:
                raise DataFormatError(
                    f"{str(feed.path)!r} provides {clash}, which another file already "
                    "provides. Pass only one source per column."
                )
            aligned = align_asof(
                feed.frame,
                out.index,
                interval=interval,
                max_staleness=self.max_staleness,
                snap_tolerance=self.snap_tolerance,
            )
            for col in aligned.columns:
                out[col] = aligned[col]
            known = feed.frame.index
            n_nan = int(aligned.isna().all(axis=1).sum())
            add_quality_note(
                out,
                f"{', '.join(aligned.columns)} from {feed.path.name}: aligned as of the "
                f"time known ({known.min().isoformat()} to {known.max().isoformat()}, "
                f"max_staleness {aligned.attrs['max_staleness']}); {n_nan} of "
                f"{len(out)} bars without a value.",
            )
            if feed.dropped:
                add_quality_note(
                    out, f"ignored columns {list(feed.dropped)} of {feed.path.name}."
                )
        notes = list(out.attrs.get("quality_notes", []))
        out = out[[c for c in CANONICAL_COLUMNS if c in out.columns]]
        if days is not None and len(out):
            cutoff = out.index[-1] + step - pd.Timedelta(days=float(days))
            out = out.loc[out.index >= cutoff]
        out = out.astype("float64")
        out.index.name = "timestamp"
        out.attrs = {
            "symbol": symbol,
            "interval": interval,
            "source": self.name,
            "files": [str(p) for p in paths],
            "quality_notes": notes,
        }
        return validate_market_data(out, interval=interval, min_rows=1)
