"""One entry point for market data: :func:`load_market_data`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from perpml.data.contract import validate_market_data
from perpml.data.schema import interval_to_timedelta
from perpml.data.sources.base import MarketDataSource
from perpml.data.sources.file import FileSource
from perpml.exceptions import ConfigError

__all__ = ["SOURCE_OPTIONS", "load_market_data"]

#: Options each named source accepts (everything else raises ConfigError).
SOURCE_OPTIONS: Mapping[str, tuple[str, ...]] = {
    "synthetic": ("seed", "start"),
    "file": (
        "path",
        "funding_rate_scale",
        "drop_last_bar",
        "max_staleness",
        "snap_tolerance",
        "gaps",
        "max_gap",
    ),
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

        synthetic_args = {k: options[k] for k in ("seed", "start") if k in options}
        return SyntheticSource(**synthetic_args)
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
    )


def load_market_data(
    source: str | MarketDataSource = "synthetic",
    *,
    symbol: str = "BTCUSDT",
    days: float | None = 60,
    interval: str = "5m",
    **options: Any,
) -> pd.DataFrame:
    """Load a validated market frame from a named source or a source object.

    Parameters
    ----------
    source : {"synthetic", "file"} or MarketDataSource, default "synthetic"
        ``"synthetic"``: :class:`perpml.data.sources.synthetic.SyntheticSource`
        (options ``seed``, ``start``). ``"file"``: :class:`FileSource` (options
        ``path`` (required), ``funding_rate_scale``, ``drop_last_bar``,
        ``max_staleness``, ``snap_tolerance``). An object implementing
        :class:`MarketDataSource` is used as is (no options allowed).
    symbol : str, default "BTCUSDT"
    days : float or None, default 60
        History length counted back from the last bar's close (None = all the
        source has).
    interval : str, default "5m"
    **options
        Source options listed above; each is checked by name, unknown ones raise.

    Returns
    -------
    DataFrame of shape (n_bars, n_columns), indexed by bar open time, UTC
        Passes :func:`validate_market_data` with at least 2 rows; ``attrs`` carries
        ``symbol``, ``interval`` and ``source``.

    Raises
    ------
    perpml.exceptions.ConfigError
        Unknown source, unknown option, bad interval / days / symbol.
    perpml.exceptions.DataContractError, DataFormatError, DataSourceError
        From the source or from validation.
    """
    interval_to_timedelta(interval)
    if not isinstance(symbol, str) or not symbol.strip():
        raise ConfigError(
            f"`symbol` must be a non-empty string like 'BTCUSDT', got {symbol!r}."
        )
    if days is not None and (
        isinstance(days, bool) or not isinstance(days, int | float) or not days > 0
    ):
        raise ConfigError(f"`days` must be a positive number or None, got {days!r}.")
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
    frame = impl.load(symbol, days, interval)
    frame.attrs.setdefault("symbol", symbol)
    frame.attrs.setdefault("interval", interval)
    frame.attrs.setdefault("source", getattr(impl, "name", type(impl).__name__))
    return validate_market_data(frame, interval=interval, min_rows=MIN_ROWS)
