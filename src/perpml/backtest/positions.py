"""From out-of-sample class probabilities to target positions.

Rule (one obvious way; the thresholds are config keys of ``[backtest]``):

1. Expected edge at bar ``t`` = ``(p_long - p_short) * m_t`` where ``m_t`` is the
   trailing mean absolute ``horizon``-bar log return (window ``vol_window``, closes up
   to ``t`` only): the typical size of the move the classes bet on.
2. Enter long when the edge exceeds ``entry_threshold`` times the round-trip cost
   ``2 * (fee + slippage)``, short when it is below minus that; otherwise no signal.
3. A signal holds the position for ``horizon`` bars (the label horizon); a new signal
   in the same direction extends the hold, the opposite signal flips it at once.
4. Size: 1.0 of equity (capped at ``max_leverage``), or with ``vol_sizing`` the
   inverse of the trailing volatility relative to its expanding median, fixed at the
   first bar of a same-side run so a hold is never resized.

Every input at row ``t`` is known at bar ``t``'s close; the engine fills at the next
open.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from perpml.exceptions import ConfigError, DataContractError
from perpml.features.targets import LONG, NEUTRAL, SHORT

__all__ = [
    "MarketTerms",
    "class_probabilities",
    "market_terms",
    "positions_from_proba",
    "trade_signals",
]

_ALIASES: Mapping[int, tuple[object, ...]] = {
    SHORT: (SHORT, str(SHORT), "SHORT", "short", "p_short"),
    NEUTRAL: (NEUTRAL, str(NEUTRAL), "NEUTRAL", "neutral", "p_neutral"),
    LONG: (LONG, str(LONG), "LONG", "long", "p_long"),
}


def class_probabilities(proba: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``(p_short, p_long)`` from a probability frame.

    Columns may be the class codes of :mod:`perpml.features.targets` (0 SHORT,
    1 NEUTRAL, 2 LONG, as ints or strings), the names ``SHORT`` / ``LONG`` or
    ``p_short`` / ``p_long`` (as in ``predictions/<model>.parquet`` and the simulator's
    truth). NaN rows mean "no prediction" and give no signal.
    """
    if not isinstance(proba, pd.DataFrame):
        raise DataContractError(
            f"`proba` must be a DataFrame of class probabilities, got "
            f"{type(proba).__name__}."
        )
    found: dict[int, object] = {}
    for code in (SHORT, LONG):
        for alias in _ALIASES[code]:
            if alias in proba.columns:
                found[code] = alias
                break
    if len(found) < 2:
        raise DataContractError(
            "`proba` needs a SHORT and a LONG probability column (0/2, 'SHORT'/'LONG' "
            f"or 'p_short'/'p_long'); got columns {list(proba.columns)}."
        )
    p_short = proba[found[SHORT]].to_numpy(np.float64)
    p_long = proba[found[LONG]].to_numpy(np.float64)
    for name, p in (("SHORT", p_short), ("LONG", p_long)):
        bad = np.isfinite(p) & ((p < -1e-9) | (p > 1 + 1e-9))
        if bad.any():
            raise DataContractError(
                f"`proba` {name} probabilities must lie in [0, 1]; {int(bad.sum())} "
                f"do not (first at {proba.index[np.flatnonzero(bad)[0]]})."
            )
    return p_short, p_long


def _hold(signal: np.ndarray, bar_pos: np.ndarray, horizon: int) -> np.ndarray:
    """Side held at each row: the latest signal if it is < horizon bars old."""
    n = len(signal)
    rows = np.arange(n)
    last = np.maximum.accumulate(np.where(signal != 0, rows, -1))
    seen = last >= 0
    last_safe = np.where(seen, last, 0)
    age = bar_pos - bar_pos[last_safe]
    return np.where(seen & (age < horizon), signal[last_safe], 0.0)


@dataclass(frozen=True)
class MarketTerms:
    """What the rule needs from the market at the probability rows (reusable).

    Attributes
    ----------
    index : DatetimeIndex of the rows
    rows : ndarray of int64, the rows' positions in the market
    mean_move : ndarray, trailing mean |horizon-bar log return| at each row
    vol_scale : ndarray or None, volatility sizing factor (None without vol sizing)
    horizon, vol_window : int
    """

    index: pd.DatetimeIndex
    rows: np.ndarray
    mean_move: np.ndarray
    vol_scale: np.ndarray | None
    horizon: int
    vol_window: int


def market_terms(
    market: pd.DataFrame,
    index: pd.DatetimeIndex,
    *,
    horizon: int,
    vol_window: int = 288,
    vol_sizing: bool = False,
) -> MarketTerms:
    """Compute the market side of the rule once for the rows ``index``.

    Pass the result as ``terms=`` to :func:`trade_signals` /
    :func:`positions_from_proba` to score many probability frames on the same rows
    (the shuffled null) without recomputing rolling windows over the whole market.
    """
    if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer):
        raise ConfigError(f"`horizon` must be an int >= 1, got {horizon!r}.")
    if horizon < 1:
        raise ConfigError(f"`horizon` must be >= 1 bar, got {horizon}.")
    if vol_window < 2:
        raise ConfigError(f"`vol_window` must be >= 2 bars, got {vol_window}.")
    rows = market.index.get_indexer(index)
    if (rows < 0).any():
        raise DataContractError(
            f"`proba` rows must be bars of `market`; {int((rows < 0).sum())} are not "
            f"(first: {index[rows < 0][0]}). Predict on the market's bars."
        )
    if len(rows) > 1 and (np.diff(rows) <= 0).any():
        raise DataContractError("`proba` index must be sorted and unique.")
    log_close = np.log(market["close"].to_numpy(np.float64))
    move = pd.Series(np.abs(log_close - np.roll(log_close, horizon)))
    move.iloc[:horizon] = np.nan
    min_periods = max(2, vol_window // 4)
    mean_move = move.rolling(vol_window, min_periods=min_periods).mean().to_numpy()
    scale = None
    if vol_sizing:
        ret1 = pd.Series(np.diff(log_close, prepend=np.nan))
        sigma = ret1.rolling(vol_window, min_periods=min_periods).std()
        ref = sigma.expanding(min_periods=1).median()
        raw = (ref / sigma).to_numpy()[rows]
        scale = np.where(np.isfinite(raw) & (raw > 0), raw, 1.0)
    return MarketTerms(
        index=pd.DatetimeIndex(index),
        rows=rows,
        mean_move=mean_move[rows],
        vol_scale=scale,
        horizon=int(horizon),
        vol_window=int(vol_window),
    )


def trade_signals(
    proba: pd.DataFrame,
    market: pd.DataFrame,
    *,
    horizon: int,
    fee_rate: float = 0.0005,
    slippage_bps: float = 1.0,
    entry_threshold: float = 1.0,
    vol_sizing: bool = False,
    vol_window: int = 288,
    max_leverage: float = 1.0,
    terms: MarketTerms | None = None,
) -> pd.DataFrame:
    """Expected edge, entry signal and target position per probability row.

    Parameters
    ----------
    proba : DataFrame of shape (n_rows, 3), indexed by bar open times of ``market``
        Out-of-sample class probabilities (see :func:`class_probabilities`).
    market : DataFrame, canonical market frame (needs ``close``)
    horizon : int
        Label horizon in bars: how long a signal holds the position.
    fee_rate, slippage_bps : float
        Costs per side; the round-trip cost is ``2 * (fee_rate + slippage_bps/1e4)``.
    entry_threshold : float, default 1.0
        Multiple of the round-trip cost the expected edge must exceed.
    vol_sizing : bool, default False
    vol_window : int, default 288
        Trailing window (bars) of the move size and of the volatility.
    max_leverage : float, default 1.0
    terms : MarketTerms, optional
        From :func:`market_terms` on ``proba.index`` with the same ``horizon``,
        ``vol_window`` and ``vol_sizing``; computed when omitted.

    Returns
    -------
    DataFrame indexed like ``proba``
        ``edge`` (expected log return), ``signal`` (-1 / 0 / 1), ``position``.
    """
    if entry_threshold < 0:
        raise ConfigError(f"`entry_threshold` must be >= 0, got {entry_threshold}.")
    p_short, p_long = class_probabilities(proba)
    if terms is None:
        terms = market_terms(
            market,
            pd.DatetimeIndex(proba.index),
            horizon=horizon,
            vol_window=vol_window,
            vol_sizing=vol_sizing,
        )
    elif (
        len(terms.index) != len(proba)
        or terms.horizon != horizon
        or terms.vol_window != vol_window
        or (terms.vol_scale is not None) != bool(vol_sizing)
        or not terms.index.equals(proba.index)
    ):
        raise ConfigError(
            "`terms` were computed for other rows or settings; call market_terms() "
            "with proba.index and the same horizon, vol_window and vol_sizing."
        )
    edge = (np.nan_to_num(p_long) - np.nan_to_num(p_short)) * terms.mean_move
    cost = 2.0 * (fee_rate + slippage_bps * 1e-4)
    bar_edge = entry_threshold * cost
    valid = np.isfinite(edge) & np.isfinite(p_long) & np.isfinite(p_short)
    signal = np.where(valid & (edge > bar_edge) & (edge > 0), 1.0, 0.0)
    signal = np.where(valid & (edge < -bar_edge) & (edge < 0), -1.0, signal)
    side = _hold(signal, terms.rows, int(horizon))

    size = np.full(len(side), min(1.0, float(max_leverage)))
    if terms.vol_scale is not None:
        raw = np.minimum(terms.vol_scale, float(max_leverage))
        run_start = np.ones(len(side), dtype=bool)
        run_start[1:] = side[1:] != side[:-1]
        first = np.maximum.accumulate(np.where(run_start, np.arange(len(side)), 0))
        size = raw[first]
    return pd.DataFrame(
        {"edge": edge, "signal": signal, "position": side * size},
        index=proba.index,
    )


def positions_from_proba(
    proba: pd.DataFrame,
    market: pd.DataFrame,
    *,
    horizon: int,
    fee_rate: float = 0.0005,
    slippage_bps: float = 1.0,
    entry_threshold: float = 1.0,
    vol_sizing: bool = False,
    vol_window: int = 288,
    max_leverage: float = 1.0,
    terms: MarketTerms | None = None,
) -> pd.Series:
    """Target positions from class probabilities (see :func:`trade_signals`).

    Returns
    -------
    Series indexed like ``proba``, named ``position``
        Target decided at each row's close, for
        :func:`perpml.backtest.run_backtest`.
    """
    return trade_signals(
        proba,
        market,
        horizon=horizon,
        fee_rate=fee_rate,
        slippage_bps=slippage_bps,
        entry_threshold=entry_threshold,
        vol_sizing=vol_sizing,
        vol_window=vol_window,
        max_leverage=max_leverage,
        terms=terms,
    )["position"]
