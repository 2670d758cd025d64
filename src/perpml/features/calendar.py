"""Calendar features: cyclic hour/weekday encodings, sessions, time to funding.

They depend on the bar's timestamp only (known in advance), never on market values.
Funding settles every 8 hours at 00:00, 08:00 and 16:00 UTC on Binance USD-M for most
symbols (some use 4 h; pass another ``period_hours`` by registering a variant).
"""

from __future__ import annotations

import numpy as np

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
