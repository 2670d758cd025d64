"""Calendar features: cyclic hour/weekday encodings, sessions, time to funding.

They depend on the bar's timestamp only (known in advance), never on market values.

A cyclic encoding whose period is long compared with the training data is not a
cycle to the model but a time index: ``time_year_sin`` on three months of data is
monotonic on the training rows and takes values on the test rows that training never
saw. :func:`long_period_features` names the calendar features whose period exceeds
half the training span (the pipeline skips them, with that reason); the period of
every calendar feature is in :data:`CALENDAR_PERIODS`.
Funding settles every 8 hours at 00:00, 08:00 and 16:00 UTC on Binance USD-M for most
symbols (some use 4 h; pass another ``period_hours`` by registering a variant).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from perpml.features.registry import register_feature

_NS_PER_HOUR = 3_600 * 1_000_000_000
_NS_PER_DAY = 24 * _NS_PER_HOUR


def _hour_of_day(timestamp: np.ndarray) -> np.ndarray:
    return (timestamp % _NS_PER_DAY) / _NS_PER_HOUR


def _day_of_week(timestamp: np.ndarray) -> np.ndarray:
    # 1970-01-01 was a Thursday; shift so Monday = 0 (pandas' convention).
    return ((timestamp // _NS_PER_DAY) + 3) % 7


@register_feature(category="calendar", inputs=("timestamp",), warmup=0)
def time_hour_sin(timestamp: np.ndarray) -> np.ndarray:
    """Sine of the bar-open hour of day (UTC), period 24 h."""
    return np.sin(2 * np.pi * _hour_of_day(timestamp) / 24.0)


@register_feature(category="calendar", inputs=("timestamp",), warmup=0)
def time_hour_cos(timestamp: np.ndarray) -> np.ndarray:
    """Cosine of the bar-open hour of day (UTC), period 24 h."""
    return np.cos(2 * np.pi * _hour_of_day(timestamp) / 24.0)


@register_feature(category="calendar", inputs=("timestamp",), warmup=0)
def time_dow_sin(timestamp: np.ndarray) -> np.ndarray:
    """Sine of the fractional day of week (Monday 00:00 UTC = 0), period 7 days."""
    dow = _day_of_week(timestamp) + _hour_of_day(timestamp) / 24.0
    return np.sin(2 * np.pi * dow / 7.0)


@register_feature(category="calendar", inputs=("timestamp",), warmup=0)
def time_dow_cos(timestamp: np.ndarray) -> np.ndarray:
    """Cosine of the fractional day of week (Monday 00:00 UTC = 0), period 7 days."""
    dow = _day_of_week(timestamp) + _hour_of_day(timestamp) / 24.0
    return np.cos(2 * np.pi * dow / 7.0)


@register_feature(category="calendar", inputs=("timestamp",), warmup=0)
def time_is_weekend(timestamp: np.ndarray) -> np.ndarray:
    """1 on Saturday and Sunday (UTC), else 0."""
    return (_day_of_week(timestamp) >= 5).astype(np.float64)


def _session(timestamp: np.ndarray, start: float, end: float) -> np.ndarray:
    hour = _hour_of_day(timestamp)
    return ((hour >= start) & (hour < end)).astype(np.float64)


@register_feature(category="calendar", inputs=("timestamp",), warmup=0)
def time_session_asia(timestamp: np.ndarray) -> np.ndarray:
    """1 if the bar opens in the Asian session (00:00-08:00 UTC), else 0."""
    return _session(timestamp, 0.0, 8.0)


@register_feature(category="calendar", inputs=("timestamp",), warmup=0)
def time_session_europe(timestamp: np.ndarray) -> np.ndarray:
    """1 if the bar opens in the European session (07:00-16:00 UTC), else 0."""
    return _session(timestamp, 7.0, 16.0)


@register_feature(category="calendar", inputs=("timestamp",), warmup=0)
def time_session_us(timestamp: np.ndarray) -> np.ndarray:
    """1 if the bar opens in the US session (13:00-21:00 UTC), else 0."""
    return _session(timestamp, 13.0, 21.0)


def _hours_to_funding(
    timestamp: np.ndarray, interval: float, period_hours: int
) -> np.ndarray:
    # Measured from the bar's close (when the row becomes known); a settlement that
    # coincides with the close has already happened, so the next one is a full period
    # away: the result lies in (0, period_hours].
    period = period_hours * _NS_PER_HOUR
    close = timestamp + int(round(interval * 1e9))
    return (period - close % period) / _NS_PER_HOUR


@register_feature(
    category="calendar",
    inputs=("timestamp", "interval"),
    warmup=0,
    params={"period_hours": 8},
)
def time_hours_to_funding(
    timestamp: np.ndarray, interval: float, *, period_hours: int
) -> np.ndarray:
    """Hours from the bar's close to the next funding settlement, in (0, 8]."""
    return _hours_to_funding(timestamp, interval, period_hours)


@register_feature(
    category="calendar",
    inputs=("timestamp", "interval"),
    warmup=0,
    params={"period_hours": 8},
)
def time_bars_to_funding(
    timestamp: np.ndarray, interval: float, *, period_hours: int
) -> np.ndarray:
    """Bars from the bar's close to the next funding settlement (>= 1 on intraday)."""
    return _hours_to_funding(timestamp, interval, period_hours) * 3600.0 / interval


@register_feature(category="calendar", inputs=("timestamp",), warmup=0)
def time_year_sin(timestamp: np.ndarray) -> np.ndarray:
    """Sine of the day of year (UTC, 365.25-day period)."""
    return np.sin(2 * np.pi * (timestamp / _NS_PER_DAY) / 365.25)


@register_feature(category="calendar", inputs=("timestamp",), warmup=0)
def time_year_cos(timestamp: np.ndarray) -> np.ndarray:
    """Cosine of the day of year (UTC, 365.25-day period)."""
    return np.cos(2 * np.pi * (timestamp / _NS_PER_DAY) / 365.25)


#: Cycle length of every calendar feature (the time after which it repeats).
CALENDAR_PERIODS: dict[str, pd.Timedelta] = {
    "time_hour_sin": pd.Timedelta(days=1),
    "time_hour_cos": pd.Timedelta(days=1),
    "time_dow_sin": pd.Timedelta(days=7),
    "time_dow_cos": pd.Timedelta(days=7),
    "time_is_weekend": pd.Timedelta(days=7),
    "time_session_asia": pd.Timedelta(days=1),
    "time_session_europe": pd.Timedelta(days=1),
    "time_session_us": pd.Timedelta(days=1),
    "time_hours_to_funding": pd.Timedelta(hours=8),
    "time_bars_to_funding": pd.Timedelta(hours=8),
    "time_year_sin": pd.Timedelta(days=365.25),
    "time_year_cos": pd.Timedelta(days=365.25),
}


def long_period_features(
    names: Iterable[str], training_span: pd.Timedelta
) -> dict[str, str]:
    """Calendar features whose period is longer than half the training span.

    Parameters
    ----------
    names : iterable of str
        Built feature names (others than calendar ones are ignored).
    training_span : Timedelta
        Time from the first to the last training row.

    Returns
    -------
    dict of str to str
        ``{feature: reason}`` for each feature to skip: with fewer than two full
        cycles in the training data the encoding acts as a time index (e.g.
        year-of-date on less than two years).
    """
    span = pd.Timedelta(training_span)
    out: dict[str, str] = {}
    for name in names:
        period = CALENDAR_PERIODS.get(name)
        if period is not None and period > span / 2:
            out[name] = (
                f"calendar period {_days(period)} is longer than half the training "
                f"span ({_days(span)}): fewer than two cycles, so it acts as a time "
                "index"
            )
    return out


def _days(delta: pd.Timedelta) -> str:
    days = delta / pd.Timedelta(days=1)
    return f"{days:.3g} days" if days >= 1 else f"{delta / pd.Timedelta(hours=1):g} h"
