"""Offline perpetual-futures market simulator with a known truth.

:func:`simulate_market` produces a canonical market frame (every column of
:mod:`perpml.data.schema`) together with the simulator's latent state, from which
:meth:`SyntheticMarket.truth` computes the conditional distribution of the forward
log return given everything the simulator knows at a bar's close (a seeded
Monte-Carlo continuation of the same recursion, last bar integrated exactly). That
distribution is the ceiling any model can reach on this data ("the oracle"), so a
pipeline can be checked against it: a model far below the oracle under-fits, a model
*above* it leaks the future.

The generative model, the planted (weak, partly non-linear) relation and the measured
oracle figures are described in ``docs/simulator.md``.

Determinism: one seed gives a bit-identical frame; the path is keyed by
``(seed, symbol, start)`` through a stable SHA-256 hash (never Python's salted
``hash``), and every random stream is consumed bar by bar, so a shorter simulation is
an exact prefix of a longer one with the same arguments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from perpml.data.contract import validate_market_data
from perpml.data.schema import interval_to_timedelta
from perpml.data.sources import synthetic_core as core
from perpml.data.sources.synthetic_model import State, run_simulation
from perpml.exceptions import ConfigError, DataContractError, InsufficientDataError

__all__ = [
    "OracleMetrics",
    "SyntheticMarket",
    "SyntheticSource",
    "market_from_attrs",
    "simulate_market",
]

_DAY = pd.Timedelta(days=1)


@dataclass(frozen=True)
class OracleMetrics:
    """Scores of the simulator's true probabilities on a set of labelled rows.

    Attributes
    ----------
    accuracy : float
        Share of rows whose ``argmax`` of the true class probabilities equals the
        realised class.
    directional_accuracy : float
        Among rows where neither the oracle nor the realised class is NEUTRAL, the
        share whose direction agrees (NaN when there are none).
    directional_coverage : float
        Share of rows that entered ``directional_accuracy``.
    majority_accuracy : float
        Share of the most frequent realised class on the same rows (the best a
        constant prediction could do in hindsight).
    n : int
        Number of rows scored.
    n_paths : int
        Monte-Carlo paths per row used for the truth.
    """

    accuracy: float
    directional_accuracy: float
    directional_coverage: float
    majority_accuracy: float
    n: int
    n_paths: int


def _check_days(days: float) -> None:
    if isinstance(days, bool) or not isinstance(days, int | float) or not days > 0:
        raise ConfigError(
            f"`days` must be a positive number of days, got {days!r}. Pass e.g. days=60."
        )


def _check_strength(strength: float) -> float:
    if (
        isinstance(strength, bool)
        or not isinstance(strength, int | float | np.floating)
        or not math.isfinite(strength)
        or strength < 0
    ):
        raise ConfigError(
            f"`signal_strength` must be a finite number >= 0, got {strength!r}. Pass "
            "1.0 for the default planted signal, 0 for pure noise "
            "(--signal-strength / [data] signal_strength)."
        )
    return float(strength)


def _check_start(start: str | pd.Timestamp, bar: pd.Timedelta) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(start)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"`start` must be a timestamp like '2024-01-01', got {start!r} ({exc})."
        ) from None
    stamp = (
        stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    )
    if stamp.value % bar.value:
        raise ConfigError(
            f"`start` must be a bar open time on the {bar} grid (like exchange bars), got "
            f"{stamp}. Pass e.g. start={stamp.floor(bar)!s}."
        )
    return stamp


class SyntheticMarket:
    """A simulated market: its canonical frame, latent state and known truth.

    Built by :func:`simulate_market`; not meant to be constructed directly.

    Attributes
    ----------
    frame : DataFrame of shape (n_bars, 20), indexed by bar open time, UTC
        Canonical market frame (float64, every column of
        :data:`perpml.data.schema.CANONICAL_COLUMNS`); values known at bar close.
    symbol, interval : str
    seed : int
    start : pandas.Timestamp
    days : float
    signal_strength : float
        Multiplier of the planted relation (0: none, the oracle is a constant).
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        *,
        symbol: str,
        interval: str,
        seed: int,
        start: pd.Timestamp,
        days: float,
        params: np.ndarray,
        season: np.ndarray,
        settle: np.ndarray,
        state: State,
        offset: int,
        mc_seed: int,
        signal_strength: float = 1.0,
    ) -> None:
        self.frame = frame
        self.signal_strength = signal_strength
        self.symbol = symbol
        self.interval = interval
        self.seed = seed
        self.start = start
        self.days = days
        self._params = params
        self._season = season
        self._settle = settle
        self._state = state
        self._offset = offset  # position of the frame's first bar in the state arrays
        self._mc_seed = mc_seed

    def __repr__(self) -> str:
        return (
            f"SyntheticMarket(symbol={self.symbol!r}, interval={self.interval!r}, "
            f"seed={self.seed}, start={self.start!s}, n_bars={len(self.frame)}"
            + (
                f", signal_strength={self.signal_strength:g})"
                if self.signal_strength != 1.0
                else ")"
            )
        )

    @property
    def latent(self) -> pd.DataFrame:
        """Latent state per bar (NOT observable: for diagnostics and tests only).

        Returns
        -------
        DataFrame of shape (n_bars, 7), indexed like :attr:`frame`
            ``regime`` (0 calm, 1 turbulent), ``volatility`` (per-bar σ of the
            shock), ``crowd`` (net crowd positioning in (-1, 1)), ``premium``
            (mark-over-index premium, per 8 h), ``signal`` (planted signal at
            close), ``drift`` (planted drift of the bar's return), ``cascade`` (1.0
            in bars with a liquidation cascade). All known at the bar's close.
        """
        st = self._state
        sl = slice(self._offset, self._offset + len(self.frame))
        return pd.DataFrame(
            {
                "regime": st.g[sl].astype(np.float64),
                "volatility": st.sig[sl],
                "crowd": np.tanh(st.x[sl]),
                "premium": st.p[sl],
                "signal": st.s[sl],
                "drift": st.mu[sl],
                "cascade": st.casc[sl].astype(np.float64),
            },
            index=self.frame.index,
        )

    def default_threshold(self, horizon: int = 12) -> float:
        """Fixed log-return threshold ``0.5 * σ̄ * sqrt(horizon)`` (σ̄ long-run bar σ)."""
        return float(0.5 * self._params[core.P_SIG0] * math.sqrt(horizon))

    def _check_horizon(self, horizon: int) -> None:
        if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer):
            raise ConfigError(f"`horizon` must be an int >= 1, got {horizon!r}.")
        if horizon < 1:
            raise ConfigError(f"`horizon` must be >= 1 bar, got {horizon}.")
        if horizon >= len(self.frame):
            raise InsufficientDataError(
                f"`horizon`={horizon} needs more than {horizon} bars, the market has "
                f"{len(self.frame)}. Simulate more days or use a shorter horizon."
            )

    def _threshold_values(
        self, threshold: float | pd.Series | None, horizon: int
    ) -> np.ndarray:
        n = len(self.frame)
        if threshold is None:
            return np.full(n, self.default_threshold(horizon))
        if isinstance(threshold, pd.Series):
            values = threshold.reindex(self.frame.index).to_numpy(np.float64)
        elif isinstance(threshold, int | float | np.floating) and not isinstance(
            threshold, bool
        ):
            values = np.full(n, float(threshold))
        else:
            raise ConfigError(
                f"`threshold` must be a float log return, a pd.Series per bar (e.g. "
                f"make_targets(...)['threshold']) or None, got {type(threshold).__name__}."
            )
        bad = ~np.isnan(values) & ~(values > 0)
        if bad.any():
            where = self.frame.index[np.flatnonzero(bad)[:3]]
            raise ConfigError(
                f"`threshold` must be > 0 (NaN allowed for unknown), got "
                f"{values[bad][:3].tolist()} at {list(map(str, where))}. "
                "Pass a positive log-return threshold."
            )
        return values

    def _truth_at(
        self,
        rows: np.ndarray,
        horizon: int,
        thr: np.ndarray,
        n_paths: int,
        method: str = "fixed_horizon",
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(p_short, p_long, expected_return) at frame rows ``rows``."""
        if (
            isinstance(n_paths, bool)
            or not isinstance(n_paths, int)
            or n_paths < 16
            or n_paths % 2
        ):
            raise ConfigError(
                f"`n_paths` must be an even int >= 16 (antithetic pairs), got "
                f"{n_paths!r}. Pass e.g. n_paths=256."
            )
        if method not in ("fixed_horizon", "triple_barrier"):
            raise ConfigError(
                "`method` must be 'fixed_horizon' or 'triple_barrier' (as in "
                f"make_targets), got {method!r}."
            )
        st = self._state
        positions = rows.astype(np.int64) + self._offset
        return core.mc_truth(
            self._params, positions, int(horizon), np.ascontiguousarray(thr, np.float64),
            method == "triple_barrier",
            int(n_paths), self._mc_seed, self._season, self._settle, st.g, st.v, st.ep,
            st.sdev, st.x, st.m, st.p, st.psum, st.pcnt, st.f, st.logp, st.logoi, st.dd,
        )  # fmt: skip

    def truth(
        self,
        horizon: int = 12,
        threshold: float | pd.Series | None = None,
        *,
        n_paths: int = 256,
        method: Literal["fixed_horizon", "triple_barrier"] = "fixed_horizon",
    ) -> pd.DataFrame:
        """Conditional distribution of the forward log return given the state at close.

        Parameters
        ----------
        horizon : int, default 12
            Bars ahead, h: the return is ``log(close[t+h] / close[t])``.
        threshold : float or Series or None, default None
            Log-return threshold of the classes: a constant, or a per-bar Series known
            at t (``make_targets(...)["threshold"]``, aligned on the frame's index;
            NaN rows get NaN probabilities). None: :meth:`default_threshold`.
        n_paths : int, default 256
            Monte-Carlo paths per bar (>= 16). The standard error of each probability
            is at most ``0.5 / sqrt(n_paths)`` (0.031 at 256) and smaller in practice
            because the last bar is integrated exactly.
        method : {"fixed_horizon", "triple_barrier"}, default "fixed_horizon"
            Class definition, as in ``make_targets``: the sign of the h-bar return
            beyond ``thr``, or the first of ``+-thr`` the close path crosses within h
            bars. ``expected_return`` is the fixed-horizon one either way.

        Returns
        -------
        DataFrame of shape (n_bars, 4), indexed like :attr:`frame`
            ``p_short`` = P(r < -thr | F_t), ``p_neutral``, ``p_long`` = P(r > thr |
            F_t), ``expected_return`` = E[r | F_t], where F_t is the simulator's full
            latent state at the close of bar t (no future shock). The last
            ``horizon`` rows are NaN. Rows depend only on the state at t and the seed,
            so a truncated simulation gives identical rows.

        Notes
        -----
        Cost is linear in ``n_bars * n_paths * horizon``: about 10 s for the 17k
        rows of 60 days of 5m bars at 256 paths on 2 busy cores. Score only the rows
        you need with :meth:`oracle_metrics`.
        """
        self._check_horizon(horizon)
        thr = self._threshold_values(threshold, horizon)
        n = len(self.frame)
        rows = np.arange(n - horizon)
        p_short, p_long, mean = self._truth_at(
            rows, horizon, thr[rows], n_paths, method
        )
        out = np.full((n, 4), np.nan)
        out[rows, 0] = p_short
        out[rows, 2] = p_long
        out[rows, 1] = 1.0 - p_short - p_long
        out[rows, 3] = mean
        return pd.DataFrame(
            out,
            index=self.frame.index,
            columns=["p_short", "p_neutral", "p_long", "expected_return"],
        )

    def _labelled_rows(
        self, targets: pd.DataFrame
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, str]:
        """Frame rows, classes, thresholds, horizon and method of labelled rows."""
        missing = [
            c for c in ("target_class", "threshold", "label_end") if c not in targets
        ]
        if missing:
            raise ConfigError(
                f"`targets` must have the columns of make_targets(...); missing {missing}."
                " Pass the frame returned by perpml.features.make_targets."
            )
        method = targets.attrs.get("method", "fixed_horizon")
        rows = self.frame.index.get_indexer(targets.index)
        if (rows < 0).any():
            raise ConfigError(
                "`targets` rows must be bars of this market; "
                f"{int((rows < 0).sum())} are not (first: {targets.index[rows < 0][0]}). "
                "Build the targets from this market's frame."
            )
        bar = interval_to_timedelta(self.interval)
        horizon = targets.attrs.get("horizon")
        if horizon is None:
            known = targets["label_end"].notna().to_numpy()
            if not known.any():
                raise InsufficientDataError("`targets` has no labelled row to score.")
            span = targets["label_end"][known].iloc[0] - targets.index[known][0]
            horizon = int(round(span / bar)) - 1
        keep = (
            targets["target_class"].notna() & targets["threshold"].notna()
        ).to_numpy()
        if not keep.any():
            raise InsufficientDataError(
                "`targets` has no row with both a target_class and a threshold; pass "
                "labelled rows (not only the last `horizon` bars or the warm-up)."
            )
        self._check_horizon(int(horizon))
        y = targets["target_class"].to_numpy(np.float64)[keep]
        thr = targets["threshold"].to_numpy(np.float64)[keep]
        return rows[keep], y, thr, int(horizon), str(method)

    def oracle_metrics(
        self, targets: pd.DataFrame, *, n_paths: int = 256
    ) -> OracleMetrics:
        """Score the true probabilities (argmax) against realised target classes.

        Parameters
        ----------
        targets : DataFrame
            Output of ``make_targets(self.frame, ...)`` or a subset of its rows (e.g.
            the test period). The horizon comes from ``targets.attrs["horizon"]`` or,
            failing that, from ``label_end``; the class definition from
            ``targets.attrs["method"]`` (default fixed horizon); the per-row
            ``threshold`` column is used as is. Rows without a class are
            ignored.
        n_paths : int, default 256

        Returns
        -------
        OracleMetrics
        """
        rows, y, thr, horizon, method = self._labelled_rows(targets)
        p_short, p_long, _ = self._truth_at(rows, horizon, thr, n_paths, method)
        probs = np.column_stack([p_short, 1.0 - p_short - p_long, p_long])
        pred = probs.argmax(axis=1).astype(np.float64)
        directional = (pred != 1) & (y != 1)
        counts = np.bincount(y.astype(np.int64), minlength=3)
        return OracleMetrics(
            accuracy=float((pred == y).mean()),
            directional_accuracy=(
                float((pred[directional] == y[directional]).mean())
                if directional.any()
                else float("nan")
            ),
            directional_coverage=float(directional.mean()),
            majority_accuracy=float(counts.max() / counts.sum()),
            n=int(len(y)),
            n_paths=int(n_paths),
        )

    def oracle_predictions(
        self, targets: pd.DataFrame, *, n_paths: int = 256
    ) -> pd.Series:
        """Per-row class of the true probabilities' ``argmax`` (the oracle's call).

        Same rows and parameters as :meth:`oracle_metrics` (rows without a class
        are left out), so ``(oracle_predictions(t) == t.target_class).mean()`` is
        its ``accuracy``; per-row calls allow paired comparisons and intervals.

        Returns
        -------
        Series of int64, indexed by the labelled rows' bar open time
        """
        rows, _, thr, horizon, method = self._labelled_rows(targets)
        p_short, p_long, _ = self._truth_at(rows, horizon, thr, n_paths, method)
        probs = np.column_stack([p_short, 1.0 - p_short - p_long, p_long])
        return pd.Series(
            probs.argmax(axis=1).astype(np.int64),
            index=self.frame.index[rows],
            name="oracle",
        )

    def oracle_accuracy(self, targets: pd.DataFrame, *, n_paths: int = 256) -> float:
        """Accuracy of ``argmax`` of the true probabilities on the labelled rows.

        See :meth:`oracle_metrics` for the parameters; returns its ``accuracy``.
        """
        return self.oracle_metrics(targets, n_paths=n_paths).accuracy


def simulate_market(
    symbol: str = "BTCUSDT",
    days: float = 60,
    interval: str = "5m",
    seed: int = 42,
    start: str | pd.Timestamp = "2024-01-01",
    *,
    signal_strength: float = 1.0,
) -> SyntheticMarket:
    """Simulate a perpetual-futures market with a known, weak, planted signal.

    Parameters
    ----------
    symbol : str, default "BTCUSDT"
        Any symbol; it selects the price level and (with ``seed`` and ``start``) a
        distinct, reproducible path.
    days : float, default 60
        Length of the frame; ``round(days / interval)`` bars (at least 2).
    interval : str, default "5m"
        Bar length, one of :data:`perpml.data.schema.INTERVALS`.
    seed : int, default 42
        Same ``(symbol, days, interval, seed, start)`` gives a bit-identical frame.
    start : str or Timestamp, default "2024-01-01"
        Open time of the first bar, UTC (naive input is read as UTC); must lie on the
        interval grid.
    signal_strength : float, default 1.0
        Multiplier of every planted predictable relation (the signal's weights, the
        cascade bounce and, capped at 1, the cascade hazard). 0 plants none: the
        forward return given the state is symmetric noise, so the oracle is no better
        than the best constant prediction — a market where the honest verdict is "no
        signal". Other values give a different path than the default.

    Returns
    -------
    SyntheticMarket
        ``.frame`` is a DataFrame of shape (n_bars, 20), indexed by bar open time
        (UTC), every canonical column as float64, values known at bar close, passing
        :func:`perpml.data.validate_market_data`. ``frame.attrs`` carries
        ``symbol, interval, source="synthetic", seed, start, days`` and
        ``signal_strength``.

    Raises
    ------
    perpml.exceptions.ConfigError
        Bad interval, days, seed, symbol or start.
    """
    bar = interval_to_timedelta(interval)
    _check_days(days)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(f"`seed` must be a non-negative int, got {seed!r}.")
    if not isinstance(symbol, str) or not symbol.strip():
        raise ConfigError(f"`symbol` must be a non-empty string, got {symbol!r}.")
    stamp = _check_start(start, bar)
    strength = _check_strength(signal_strength)
    n_bars = int(round(days * (_DAY / bar)))
    if n_bars < 2:
        raise ConfigError(
            f"`days`={days} gives {n_bars} bar(s) of {interval}; at least 2 are needed. "
            "Simulate more days or use a shorter interval."
        )

    sim = run_simulation(symbol, int(seed), stamp, bar, n_bars, strength)
    frame = sim.frame
    frame.attrs.update(
        {
            "symbol": symbol,
            "interval": interval,
            "source": "synthetic",
            "seed": int(seed),
            "start": stamp.isoformat(),
            "days": float(days),
            "signal_strength": strength,
        }
    )
    validate_market_data(frame, interval=interval, min_rows=2)
    return SyntheticMarket(
        frame,
        symbol=symbol,
        interval=interval,
        seed=int(seed),
        start=stamp,
        days=float(days),
        params=sim.params,
        season=sim.season,
        settle=sim.settle,
        state=sim.state,
        offset=sim.offset,
        mc_seed=sim.mc_seed,
        signal_strength=strength,
    )


class SyntheticSource:
    """:class:`~perpml.data.sources.base.MarketDataSource` backed by the simulator.

    Parameters
    ----------
    seed : int, default 42
    start : str or Timestamp, default "2024-01-01"
        Open time of the first bar (see :func:`simulate_market`).
    signal_strength : float, default 1.0
        Multiplier of the planted relation; 0 = pure noise (see
        :func:`simulate_market`).
    """

    name = "synthetic"

    def __init__(
        self,
        seed: int = 42,
        start: str | pd.Timestamp = "2024-01-01",
        signal_strength: float = 1.0,
    ) -> None:
        self.seed = seed
        self.start = start
        self.signal_strength = signal_strength

    def __repr__(self) -> str:
        extra = (
            f", signal_strength={self.signal_strength!r}"
            if self.signal_strength != 1.0
            else ""
        )
        return f"SyntheticSource(seed={self.seed!r}, start={self.start!r}{extra})"

    #: ``load`` takes ``start`` / ``end`` (see :func:`perpml.data.load_market_data`).
    supports_range = True

    def load(
        self,
        symbol: str,
        days: float | None,
        interval: str,
        *,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        """Return ``simulate_market(symbol, days, interval, seed, start).frame``.

        ``days=None`` means the default 60 days (a simulator has no "everything").
        ``start`` replaces the source's own start; with ``end`` too, the market runs
        from ``start`` to ``end`` (``days`` is then ignored); ``end`` alone ends the
        market there.
        """
        n_days = 60.0 if days is None else float(days)
        first = pd.Timestamp(self.start) if start is None else start
        if end is not None:
            if start is None:
                first = end - pd.Timedelta(days=n_days)
            n_days = (end - first) / pd.Timedelta(days=1)
        return simulate_market(
            symbol=symbol,
            days=n_days,
            interval=interval,
            seed=self.seed,
            start=first,
            signal_strength=self.signal_strength,
        ).frame


def market_from_attrs(frame: pd.DataFrame) -> SyntheticMarket:
    """Rebuild the :class:`SyntheticMarket` a synthetic frame came from.

    Parameters
    ----------
    frame : DataFrame
        A frame produced by :func:`simulate_market` / :class:`SyntheticSource` (or
        rows of it), whose ``attrs`` still carry ``symbol, interval, source, seed,
        start, days``.

    Returns
    -------
    SyntheticMarket
        The same market; its frame covers ``frame``'s rows with identical closes.

    Raises
    ------
    perpml.exceptions.DataContractError
        If the attrs are missing / not synthetic, or the rebuilt market does not
        reproduce ``frame`` (rows outside it or different closes).
    """
    needed = ("symbol", "interval", "source", "seed", "start", "days")
    missing = [k for k in needed if k not in frame.attrs]
    if missing or frame.attrs.get("source") != "synthetic":
        raise DataContractError(
            f"frame.attrs must carry {list(needed)} with source='synthetic' to rebuild "
            f"the simulator; missing {missing}, source={frame.attrs.get('source')!r}. "
            "Pass the frame returned by simulate_market / load_market_data('synthetic') "
            "(attrs are lost by some operations, e.g. pd.concat)."
        )
    attrs = frame.attrs
    market = simulate_market(
        symbol=str(attrs["symbol"]),
        days=float(attrs["days"]),
        interval=str(attrs["interval"]),
        seed=int(attrs["seed"]),
        start=str(attrs["start"]),
        # frames written before signal_strength existed had the default signal
        signal_strength=float(attrs.get("signal_strength", 1.0)),
    )
    rows = market.frame.index.get_indexer(frame.index)
    if (rows < 0).any() or (
        "close" in frame
        and not np.array_equal(
            market.frame["close"].to_numpy()[rows], frame["close"].to_numpy(np.float64)
        )
    ):
        raise DataContractError(
            "The market rebuilt from frame.attrs does not reproduce the frame (rows "
            "outside it or different closes): the frame was modified or made by another "
            "simulator version. Re-simulate with simulate_market(...)."
        )
    return market
