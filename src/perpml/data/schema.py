"""Column names and time rules of the canonical market frame.

The canonical market frame
--------------------------
* Index: ``pandas.DatetimeIndex`` named ``timestamp``, tz-aware **UTC**, holding each
  bar's **open** time; regular spacing (``1m`` … ``1d``), sorted ascending, unique.
* Columns, float64 (``trades`` too, so missing values are representable):
  :data:`REQUIRED_COLUMNS` always, any of :data:`OPTIONAL_COLUMNS` when known.

Time rule (every feature relies on it)
--------------------------------------
Every value in the row stamped ``t`` is **known at that bar's close**,
``t + interval``. Slower feeds are aligned *as of* the moment they became known:

* a funding rate counts from its settlement time on (a settlement at 08:00 appears in
  the bar whose close is at or after 08:00, i.e. the bar opening at 07:55 on 5m bars,
  and in every later bar until the next settlement);
* an open-interest / ratio snapshot stamped ``T`` describes the state at ``T`` and so
  belongs to the bar that **closes** at ``T`` (opens at ``T - interval``);
* values are never interpolated and never back-filled from later rows.

Consequently a feature computed at row ``t`` may use rows ``<= t`` only, and a label
for row ``t`` is known at ``close(t + horizon)`` (the ``label_end`` used for purging).
"""

from __future__ import annotations

import re
from typing import Final

import pandas as pd

INDEX_NAME: Final = "timestamp"

REQUIRED_COLUMNS: Final[tuple[str, ...]] = ("open", "high", "low", "close", "volume")

OPTIONAL_COLUMNS: Final[tuple[str, ...]] = (
    "quote_volume",
    "trades",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "open_interest",
    "open_interest_value",
    "funding_rate",
    "long_short_ratio",
    "top_trader_long_short_ratio",
    "taker_long_short_ratio",
    "mark_price",
    "index_price",
    # liquidations aggregated per bar (perpml.data.liquidations): base units and
    # forced-order count of the bar; 0 in a bar without liquidations, never NaN
    # there (NaN only where the feed was not recorded)
    "liquidation_long_volume",
    "liquidation_short_volume",
    "liquidation_count",
)

#: The per-bar liquidation columns (a SELL forced order closes a long position).
LIQUIDATION_COLUMNS: Final[tuple[str, ...]] = (
    "liquidation_long_volume",
    "liquidation_short_volume",
    "liquidation_count",
)

CANONICAL_COLUMNS: Final[tuple[str, ...]] = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

PRICE_COLUMNS: Final[tuple[str, ...]] = (
    "open",
    "high",
    "low",
    "close",
    "mark_price",
    "index_price",
)

#: Interval strings accepted everywhere, mapped to their length.
INTERVALS: Final[dict[str, pd.Timedelta]] = {
    "1m": pd.Timedelta(minutes=1),
    "3m": pd.Timedelta(minutes=3),
    "5m": pd.Timedelta(minutes=5),
    "15m": pd.Timedelta(minutes=15),
    "30m": pd.Timedelta(minutes=30),
    "1h": pd.Timedelta(hours=1),
    "2h": pd.Timedelta(hours=2),
    "4h": pd.Timedelta(hours=4),
    "6h": pd.Timedelta(hours=6),
    "8h": pd.Timedelta(hours=8),
    "12h": pd.Timedelta(hours=12),
    "1d": pd.Timedelta(days=1),
}


def interval_to_timedelta(interval: str) -> pd.Timedelta:
    """Return the bar length of an interval string such as ``"5m"``.

    Raises
    ------
    perpml.exceptions.ConfigError
        If ``interval`` is not one of :data:`INTERVALS`.
    """
    from perpml.exceptions import ConfigError

    try:
        return INTERVALS[interval]
    except KeyError:
        raise ConfigError(
            f"`interval` must be one of {sorted(INTERVALS, key=INTERVALS.__getitem__)}, "
            f"got {interval!r}. Pass e.g. interval='5m'."
        ) from None


def infer_interval(index: pd.DatetimeIndex) -> str:
    """Return the interval string of a regular index (its most common spacing)."""
    from perpml.exceptions import DataContractError

    if len(index) < 2:
        raise DataContractError(
            "Cannot infer the bar interval from fewer than 2 rows; pass --interval (config key [data] interval; `interval=` in Python)."
        )
    step = pd.Series(index[1:] - index[:-1]).mode().iloc[0]
    for name, length in INTERVALS.items():
        if length == step:
            return name
    raise DataContractError(
        f"The most common bar spacing is {step}, which is not a supported interval "
        f"({', '.join(INTERVALS)}). Resample the data to one of them first."
    )


#: Exchange symbols: upper-case letters and digits (BTCUSDT, 1000PEPEUSDT).
SYMBOL_PATTERN: Final = re.compile(r"^[A-Z0-9]{2,24}$")


def check_symbol(symbol: object) -> str:
    """Return ``symbol`` upper-cased if it is an exchange symbol, else raise.

    Exchange symbols are 2-24 upper-case letters and digits; anything else (paths,
    quotes, spaces, SQL) is refused, because symbols name files, run directories,
    cache entries and database rows.

    Raises
    ------
    perpml.exceptions.ConfigError
        If ``symbol`` is not such a name.
    """
    from perpml.exceptions import ConfigError

    if not isinstance(symbol, str) or not SYMBOL_PATTERN.match(symbol.strip().upper()):
        raise ConfigError(
            f"Symbol {symbol!r} is not an exchange symbol: symbols are 2-24 upper-case "
            "letters and digits, like BTCUSDT or 1000PEPEUSDT. Pass --symbol (config "
            "key [data] symbol) with such a name."
        )
    return symbol.strip().upper()
