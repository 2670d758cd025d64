"""Forward-looking targets: the only place in perpml allowed to read the future.

:func:`make_targets` turns a market frame into the labels the models learn: the
3-class entry signal (SHORT / NEUTRAL / LONG), the forward log return, the per-bar
class threshold (known at the bar's close), the time each label becomes known
(``label_end``, used to purge training rows) and the forward OI change.

.. warning::
   Every column except ``threshold`` uses bars after ``t``. Never feed them to a model
   as inputs; purge training rows whose ``label_end`` reaches into a test period.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import pandas as pd

from perpml.data.schema import infer_interval, interval_to_timedelta
from perpml.exceptions import ConfigError, DataContractError, InsufficientDataError

__all__ = ["CLASS_NAMES", "LONG", "NEUTRAL", "SHORT", "make_targets"]

SHORT = 0
NEUTRAL = 1
LONG = 2
#: class code -> name, in code order
CLASS_NAMES: tuple[str, ...] = ("SHORT", "NEUTRAL", "LONG")

_SCALES = ("fixed", "volatility")
_METHODS = ("fixed_horizon", "triple_barrier")


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ConfigError(f"`{name}` must be an int >= {minimum}, got {value!r}.")
    if value < minimum:
        raise ConfigError(
            f"`{name}` must be >= {minimum}, got {value}. Pass e.g. {name}={max(minimum, 12)}."
        )
    return int(value)


def _check_inputs(
    market: pd.DataFrame,
    horizon: int,
    threshold: float,
    scale: str,
    vol_window: int,
    method: str,
) -> tuple[pd.Timedelta, str]:
    """Validate arguments; return the bar length and interval name."""
    if not isinstance(market, pd.DataFrame):
        raise ConfigError(
            f"`market` must be a pandas DataFrame (a canonical market frame), got "
            f"{type(market).__name__}."
        )
    if "close" not in market.columns:
        raise DataContractError(
            "`market` must have a 'close' column to compute forward returns; got columns "
            f"{list(market.columns)[:8]}. Pass a canonical market frame."
        )
    if not isinstance(market.index, pd.DatetimeIndex):
        raise DataContractError(
            "`market` must be indexed by bar open time (DatetimeIndex, UTC); got "
            f"{type(market.index).__name__}. Use load_market_data / validate_market_data."
        )
    _check_int("horizon", horizon, 1)
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float | np.floating)
        or not math.isfinite(threshold)
        or threshold <= 0
    ):
        raise ConfigError(
            f"`threshold` must be a finite number > 0, got {threshold!r}. With "
            "scale='volatility' it is a multiple of sigma*sqrt(h) (e.g. 0.5); with "
            "scale='fixed' a log return (e.g. 0.003)."
        )
    if scale not in _SCALES:
        raise ConfigError(f"`scale` must be one of {list(_SCALES)}, got {scale!r}.")
    if method not in _METHODS:
        raise ConfigError(f"`method` must be one of {list(_METHODS)}, got {method!r}.")
    _check_int("vol_window", vol_window, 2)
    interval = str(market.attrs.get("interval") or infer_interval(market.index))
    bar = interval_to_timedelta(interval)
    # a label needs h bars after t; the volatility scale needs vol_window returns
    # before it
    needed = horizon + 1 + (vol_window if scale == "volatility" else 0)
    if len(market) < needed:
        raise InsufficientDataError(
            f"make_targets needs at least {needed} rows for horizon={horizon}"
            + (f" and vol_window={vol_window}" if scale == "volatility" else "")
            + f", got {len(market)}. Load more days, or lower horizon / vol_window."
        )
    close = market["close"].to_numpy(np.float64)
    bad = ~np.isnan(close) & ~(close > 0)
    if bad.any():
        raise DataContractError(
            f"'close' must be > 0 (NaN allowed for gaps), got {close[bad][:3].tolist()} "
            f"at {list(map(str, market.index[bad][:3]))}. Validate the frame with "
            "validate_market_data first."
        )
    return bar, interval


def _triple_barrier(logp: np.ndarray, horizon: int, thr: np.ndarray) -> np.ndarray:
    """Class by the first barrier (+thr LONG, -thr SHORT) the close path touches."""
    n = len(logp)
    out = np.full(n, np.nan)
    m = n - horizon
    # path[t, k-1] = log(close[t+k] / close[t]), k = 1..h
    ahead = np.lib.stride_tricks.sliding_window_view(logp[1:], horizon)[:m]
    path = ahead - logp[:m, None]
    t_thr = thr[:m, None]
    up = path > t_thr
    dn = path < -t_thr
    big = horizon + 1
    first_up = np.where(up.any(axis=1), up.argmax(axis=1), big)
    first_dn = np.where(dn.any(axis=1), dn.argmax(axis=1), big)
    cls = np.where(
        first_up < first_dn, LONG, np.where(first_dn < first_up, SHORT, NEUTRAL)
    ).astype(np.float64)
    # a NaN close anywhere on the path (or at t) leaves the label unknown
    known = ~np.isnan(path).any(axis=1) & ~np.isnan(thr[:m])
    out[:m] = np.where(known, cls, np.nan)
    return out


def make_targets(
    market: pd.DataFrame,
    horizon: int = 12,
    threshold: float = 0.5,
    *,
    scale: Literal["fixed", "volatility"] = "volatility",
    vol_window: int = 288,
    method: Literal["fixed_horizon", "triple_barrier"] = "fixed_horizon",
) -> pd.DataFrame:
    """Forward return, 3-class label, its threshold and the time it becomes known.

    Parameters
    ----------
    market : DataFrame of shape (n_bars, n_columns), indexed by bar open time, UTC
        Canonical market frame; ``close`` is required, ``open_interest`` optional.
        Values in row ``t`` are known at ``t + interval``.
    horizon : int, default 12
        Bars ahead, h >= 1.
    threshold : float, default 0.5
        ``scale="fixed"``: the class threshold as a log return. ``scale="volatility"``:
        a multiple of ``sigma_t * sqrt(h)``, where ``sigma_t`` is the sample standard
        deviation of the ``vol_window`` 1-bar log returns ending at bar t (known at
        t's close).
    scale : {"fixed", "volatility"}, default "volatility"
    vol_window : int, default 288
        Trailing window (bars, >= 2) of ``sigma_t``. Warm-up: the first
        ``vol_window`` rows (and any window containing a NaN close) have no threshold
        and hence no class.
    method : {"fixed_horizon", "triple_barrier"}, default "fixed_horizon"
        ``"fixed_horizon"``: class of ``target_return`` (``< -thr`` SHORT, ``> thr``
        LONG, else NEUTRAL). ``"triple_barrier"``: class of the first barrier
        ``+-thr`` the close path ``log(close[t+k]/close[t])``, k = 1..h, crosses
        (NEUTRAL if neither).

    Returns
    -------
    DataFrame of shape (n_bars, 4 or 5), same index as ``market``
        ``target_class`` : float64, 0 SHORT / 1 NEUTRAL / 2 LONG, NaN where unknown
        (last h rows, warm-up, gaps) -- never guessed.
        ``target_return`` : ``log(close[t+h] / close[t])``.
        ``threshold`` : per-bar log-return threshold, known at t's close.
        ``label_end`` : ``datetime64[UTC]``, close time of bar t+h
        (``index[t+h] + interval``), when the label becomes known; NaT for the last
        h rows. Triple-barrier labels use the same (conservative) end.
        ``target_oi_change`` : ``log(OI[t+h] / OI[t])``, only when ``market`` has
        ``open_interest``.
        ``attrs`` records ``horizon, threshold, scale, vol_window, method, interval``.

    Raises
    ------
    perpml.exceptions.ConfigError
        Invalid ``horizon``, ``threshold``, ``scale``, ``vol_window`` or ``method``.
    perpml.exceptions.InsufficientDataError
        Fewer than ``horizon + 1`` rows (plus ``vol_window`` with the volatility scale).
    perpml.exceptions.DataContractError
        No ``close`` column, no DatetimeIndex or non-positive closes.

    Examples
    --------
    >>> targets = make_targets(market, horizon=12, threshold=0.5)  # doctest: +SKIP
    >>> targets["target_class"].value_counts(normalize=True)  # doctest: +SKIP
    """
    bar, interval = _check_inputs(market, horizon, threshold, scale, vol_window, method)
    n = len(market)
    index = market.index
    logp = np.log(market["close"].to_numpy(np.float64))

    fwd = np.full(n, np.nan)
    fwd[: n - horizon] = logp[horizon:] - logp[: n - horizon]

    if scale == "fixed":
        thr = np.full(n, float(threshold))
    else:
        # sigma_t uses the returns of bars t-w+1..t (all known at t's close); pandas'
        # rolling window ends at t, so nothing later enters
        ret = pd.Series(logp, index=index).diff()
        sigma = ret.rolling(vol_window, min_periods=vol_window).std(ddof=1)
        thr = float(threshold) * sigma.to_numpy(np.float64) * math.sqrt(horizon)
        # a flat window gives sigma 0: no meaningful threshold
        thr[~(thr > 0)] = np.nan

    if method == "fixed_horizon":
        known = ~np.isnan(fwd) & ~np.isnan(thr)
        cls = np.where(fwd > thr, LONG, np.where(fwd < -thr, SHORT, NEUTRAL))
        target_class = np.where(known, cls.astype(np.float64), np.nan)
    else:
        target_class = _triple_barrier(logp, horizon, thr)

    label_end = pd.Series(pd.NaT, index=index, dtype=index.dtype)
    label_end.iloc[: n - horizon] = index[horizon:] + bar

    out = pd.DataFrame(
        {
            "target_class": target_class,
            "target_return": fwd,
            "threshold": thr,
            "label_end": label_end,
        },
        index=index,
    )
    if "open_interest" in market.columns:
        oi = market["open_interest"].to_numpy(np.float64)
        # a missing or zero OI snapshot gives an unknown change, not -inf
        log_oi = np.log(np.where(oi > 0, oi, np.nan))
        oi_change = np.full(n, np.nan)
        oi_change[: n - horizon] = log_oi[horizon:] - log_oi[: n - horizon]
        out["target_oi_change"] = oi_change
    out.attrs.update(
        {
            "horizon": int(horizon),
            "threshold": float(threshold),
            "scale": scale,
            "vol_window": int(vol_window),
            "method": method,
            "interval": interval,
        }
    )
    return out
