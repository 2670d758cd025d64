"""One entry point for market data: :func:`load_market_data`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from perpml.data.contract import validate_market_data
from perpml.data.quality import plausibility_warnings
from perpml.data.schema import check_symbol, interval_to_timedelta
from perpml.data.sources.base import MarketDataSource
from perpml.data.sources.file import FileSource
from perpml.exceptions import ConfigError

__all__ = [
    "DEFAULT_INTERVAL",
    "DEFAULT_SYMBOL",
    "SOURCE_OPTIONS",
    "check_symbol",
    "load_market_data",
    "parse_time",
]

#: Options each named source accepts (everything else raises ConfigError).
SOURCE_OPTIONS: Mapping[str, tuple[str, ...]] = {
    "synthetic": ("seed", "signal_strength"),
    "file": (
        "path",
        "funding_rate_scale",
        "drop_last_bar",
        "max_staleness",
        "snap_tolerance",
        "gaps",
        "max_gap",
    ),
    "archive": ("base_url", "cache_dir", "feeds", "gaps", "max_gap", "workers"),
    "binance": (
        "base_url",
        "archive_url",
        "cache_dir",
        "feeds",
        "gaps",
        "max_gap",
    ),
    "postgres": ("url", "database", "max_staleness"),
}

#: Fewest rows a loaded frame may have (two are needed to know its spacing).
MIN_ROWS = 2


def _make_source(source: str, options: Mapping[str, Any]) -> MarketDataSource:
    valid = SOURCE_OPTIONS.get(source)
    if valid is None:
        raise ConfigError(
            f"`source` must be one of {sorted(SOURCE_OPTIONS)} or a MarketDataSource "
            f"instance, got {source!r}."
        )
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ConfigError(
            f"Unknown option(s) {unknown} for source {source!r}; valid options are "
            f"{list(valid)}."
        )
    if source == "synthetic":
        # Imported lazily: the simulator is optional for users who only read files.
        from perpml.data.sources.synthetic import SyntheticSource

        return SyntheticSource(
            **{k: options[k] for k in ("seed", "signal_strength") if k in options}
        )
    if source == "archive":
        from perpml.data.sources.archive import ArchiveSource

        return ArchiveSource(**options)
    if source == "binance":
        from perpml.data.sources.binance import BinanceRestSource

        return BinanceRestSource(**options)
    if source == "postgres":
        from perpml.data.sources.postgres import PostgresSource

        return PostgresSource(
            options.get("url"),
            config=options.get("database"),
            max_staleness=options.get("max_staleness"),
        )
    if "path" not in options:
        raise ConfigError(
            "source='file' needs `path=` (one file or a list: klines plus optional "
            "metrics / open-interest / funding files)."
        )
    return FileSource(
        options["path"],
        funding_rate_scale=options.get("funding_rate_scale", 1.0),
        drop_last_bar=options.get("drop_last_bar", True),
        max_staleness=options.get("max_staleness"),
        snap_tolerance=options.get("snap_tolerance", pd.Timedelta(seconds=10)),
        gaps=options.get("gaps", "raise"),
        max_gap=options.get("max_gap"),
    )


#: What a source gets when the caller leaves symbol / interval unset and the source
#: cannot infer them from its data (the simulator, the exchange).
DEFAULT_SYMBOL = "BTCUSDT"
DEFAULT_INTERVAL = "5m"


def parse_time(value: object, name: str) -> pd.Timestamp | None:
    """Parse a UTC date or timestamp given as ``--start`` / ``--end`` (None passes)."""
    if value is None or isinstance(value, pd.Timestamp) and pd.isna(value):
        return None
    try:
        stamp = pd.Timestamp(value)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        stamp = None
    if stamp is None or pd.isna(stamp):
        raise ConfigError(
            f"--{name} (config key [data] {name}) must be a UTC date or timestamp "
            f"such as 2024-01-01 or 2024-01-01T12:00, got {value!r}."
        )
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def load_market_data(
    source: str | MarketDataSource = "synthetic",
    *,
    symbol: str | None = None,
    days: float | None = None,
    interval: str | None = None,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    **options: Any,
) -> pd.DataFrame:
    """Load a validated market frame from a named source or a source object.

    Parameters
    ----------
    source : {"synthetic", "file"} or MarketDataSource, default "synthetic"
        ``"synthetic"``: :class:`perpml.data.sources.synthetic.SyntheticSource`
        (options ``seed``, ``start``). ``"file"``: :class:`FileSource` (options
        ``path`` (required), ``funding_rate_scale``, ``drop_last_bar``,
        ``max_staleness``, ``snap_tolerance``, ``gaps``, ``max_gap``). ``"archive"`` /
        ``"binance"``: see ``docs/sources.md``. ``"postgres"``:
        :class:`perpml.data.sources.postgres.PostgresSource` (options ``url``,
        ``database`` (a :class:`perpml.config.DatabaseConfig`), ``max_staleness``).
        An object implementing
        :class:`MarketDataSource` is used as is (no options allowed).
    symbol : str, optional
        Exchange symbol. ``None``: read from the data by sources that can
        (``"file"``: symbol column, archive file names, file name), else
        ``"BTCUSDT"``. A given symbol that contradicts the data raises.
    days : float or None, default None
        History length counted back from the last bar's close. ``None``: all of a
        file's data; the simulator's 60 days.
    interval : str, optional
        Bar length. ``None``: the files' bar spacing, else ``"5m"``.
    start, end : str or Timestamp, optional
        Keep the bars whose open time lies in ``[start, end]`` (UTC dates or
        timestamps).
    **options
        Source options listed above; each is checked by name, unknown ones raise.

    Returns
    -------
    DataFrame of shape (n_bars, n_columns), indexed by bar open time, UTC
        Passes :func:`validate_market_data` with at least 2 rows; ``attrs`` carries
        ``symbol``, ``interval``, ``source`` and ``quality_warnings`` (suspicious
        but possible values, see :func:`perpml.data.quality.plausibility_warnings`).

    Raises
    ------
    perpml.exceptions.ConfigError
        Unknown source, unknown option, bad interval / days / symbol.
    perpml.exceptions.DataContractError, DataFormatError, DataSourceError
        From the source or from validation.
    """
    if interval is not None:
        interval_to_timedelta(interval)
    if symbol is not None:
        symbol = check_symbol(symbol)
    if days is not None and (
        isinstance(days, bool)
        or not isinstance(days, int | float)
        or not 0 < days < float("inf")
    ):
        raise ConfigError(
            f"`days` (--days) must be a positive, finite number or None, got {days!r}."
        )
    first, last = parse_time(start, "start"), parse_time(end, "end")
    if first is not None and last is not None and last <= first:
        raise ConfigError(
            f"--end ({last.isoformat()}) must be after --start ({first.isoformat()})."
        )
    if isinstance(source, str):
        impl = _make_source(source, options)
    elif isinstance(source, MarketDataSource):
        if options:
            raise ConfigError(
                f"Options {sorted(options)} are only for named sources; configure the "
                f"{type(source).__name__} object itself instead."
            )
        impl = source
    else:
        raise ConfigError(
            f"`source` must be a source name ({sorted(SOURCE_OPTIONS)}) or an object with "
            f"`name` and `load(symbol, days, interval)`, got {type(source).__name__}."
        )
    infers = bool(getattr(impl, "infers_market", False))
    if not infers:
        symbol = symbol or DEFAULT_SYMBOL
        interval = interval or DEFAULT_INTERVAL
    if getattr(impl, "supports_range", False):
        frame = impl.load(symbol, days, interval, start=first, end=last)  # type: ignore[call-arg, arg-type]
    else:
        frame = impl.load(symbol, days, interval)  # type: ignore[arg-type]
        frame = _trim(frame, first, last)
    frame.attrs.setdefault("source", getattr(impl, "name", type(impl).__name__))
    if symbol is not None:
        frame.attrs["symbol"] = frame.attrs.get("symbol") or symbol
    frame.attrs.setdefault("symbol", DEFAULT_SYMBOL)
    resolved = frame.attrs.get("interval") or interval
    if resolved is None:
        from perpml.data.schema import infer_interval

        resolved = infer_interval(frame.index)
    frame.attrs["interval"] = resolved
    validate_market_data(frame, interval=resolved, min_rows=MIN_ROWS)
    frame.attrs["quality_warnings"] = plausibility_warnings(frame)
    return frame


def _trim(
    frame: pd.DataFrame, start: pd.Timestamp | None, end: pd.Timestamp | None
) -> pd.DataFrame:
    """Keep the bars whose open time lies in ``[start, end]`` (attrs kept)."""
    if start is None and end is None:
        return frame
    keep = pd.Series(True, index=frame.index)
    if start is not None:
        keep &= frame.index >= start
    if end is not None:
        keep &= frame.index <= end
    if not keep.any():
        raise ConfigError(
            f"No bar of the data lies between --start {start} and --end {end}; the "
            f"data covers {frame.index[0].isoformat()} to "
            f"{frame.index[-1].isoformat()}."
        )
    out = frame.loc[keep.to_numpy()]
    out.attrs = dict(frame.attrs)
    return out
