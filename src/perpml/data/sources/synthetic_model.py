"""Generative model of the market simulator: parameters, random streams, columns.

Private to :mod:`perpml.data.sources.synthetic` (see ``docs/simulator.md`` for the
equations). :func:`run_simulation` draws every random stream, runs the latent
recursion of :mod:`~perpml.data.sources.synthetic_core` and derives the observable
columns from the latent state with vectorised numpy.
"""

from __future__ import annotations

import hashlib
import math
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.signal import lfilter
from scipy.special import expit
from scipy.stats import poisson

from perpml.data.schema import CANONICAL_COLUMNS, INDEX_NAME
from perpml.data.sources import synthetic_core as core

#: bars simulated before the first frame bar and discarded (steady state at start)
BURN_IN = 576
_DAY = pd.Timedelta(days=1)
_SETTLEMENT = pd.Timedelta(hours=8)
#: reference price levels; other symbols get a level drawn from their hash
_PRICE_LEVELS = {"BTC": 40_000.0, "ETH": 2_200.0, "SOL": 100.0, "BNB": 300.0}
#: open-interest value (USD) the OI mean-reverts to, and daily volume / OI
_OI_VALUE = 2.0e9
_TURNOVER = 4.0
_AVG_TRADE_USD = 2_000.0
_STREAMS = (
    "regime", "shock", "crowd", "premium", "oi", "cascade", "high", "low",
    "volume", "taker", "trades", "mark", "top",
)  # fmt: skip


class State(NamedTuple):
    """Latent state arrays over every simulated bar (history + burn-in + frame)."""

    g: np.ndarray  # regime, int8
    v: np.ndarray  # GARCH variance factor
    ep: np.ndarray  # unit-variance Student-t shock
    sdev: np.ndarray  # deseasonalised per-bar volatility
    sig: np.ndarray  # per-bar volatility
    x: np.ndarray  # crowd positioning (latent, tanh(x) in (-1, 1))
    m: np.ndarray  # momentum EMA of standardised returns
    p: np.ndarray  # premium of mark over index (per 8 h)
    psum: np.ndarray  # premium sum since the last settlement
    pcnt: np.ndarray  # bars since the last settlement
    f: np.ndarray  # last settled funding rate
    logp: np.ndarray  # log close
    logoi: np.ndarray  # log open interest
    dd: np.ndarray  # planted drift emitted at this bar (delivered over the next bars)
    r: np.ndarray  # log return of the bar
    casc: np.ndarray  # liquidation cascade in this bar, bool
    s: np.ndarray  # planted signal at close
    mu: np.ndarray  # planted drift of this bar's return


def _stable_key(*parts: object) -> int:
    """A 63-bit integer from the parts, identical across processes and platforms."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


def _price_level(symbol: str) -> float:
    for base, level in _PRICE_LEVELS.items():
        if symbol.upper().startswith(base):
            return level
    # between 0.1 and 1000, fixed per symbol
    return float(
        10.0 ** (-1.0 + 4.0 * (_stable_key("price", symbol) % 10_000) / 10_000)
    )


def _model_params(bar: pd.Timedelta) -> np.ndarray:
    """Parameter vector for bars of length ``bar`` (time constants fixed in clock time)."""
    minutes = bar / pd.Timedelta(minutes=1)
    tau = minutes / 5.0  # bar length in 5-minute units

    def decay(span: pd.Timedelta) -> float:
        return math.exp(-(bar / span))

    prm = np.zeros(core.N_PARAMS)
    prm[core.P_STAY0] = decay(pd.Timedelta(days=4))
    prm[core.P_STAY1] = decay(pd.Timedelta(days=1))
    phi_g = decay(pd.Timedelta(hours=4))
    prm[core.P_GARCH_PHI] = phi_g
    prm[core.P_GARCH_A] = 0.07 * phi_g
    prm[core.P_SIG0] = 0.03 * math.sqrt(bar / _DAY)
    # regime multipliers scaled so the stationary mean of mult**2 is one
    leave0, leave1 = 1.0 - prm[core.P_STAY0], 1.0 - prm[core.P_STAY1]
    pi1 = leave0 / (leave0 + leave1)
    norm = math.sqrt((1.0 - pi1) * 0.8**2 + pi1 * 1.9**2)
    prm[core.P_MULT0] = 0.8 / norm
    prm[core.P_MULT1] = 1.9 / norm
    prm[core.P_PHI_M] = decay(pd.Timedelta(hours=1))
    prm[core.P_PHI_X] = decay(pd.Timedelta(hours=12))
    prm[core.P_KAPPA_X] = 0.04 * math.sqrt(tau)
    prm[core.P_SIG_X] = 0.03 * math.sqrt(tau)
    phi_p = decay(pd.Timedelta(hours=2))
    prm[core.P_PHI_P] = phi_p
    prm[core.P_KAPPA_P] = 0.0013
    prm[core.P_SIG_P] = 0.00016 * math.sqrt(1.0 - phi_p**2)
    prm[core.P_PREM0] = 0.0001
    prm[core.P_A_OI] = 0.0016 * math.sqrt(tau)
    prm[core.P_THETA_OI] = 1.0 - decay(pd.Timedelta(days=3))
    prm[core.P_SIG_OI] = 0.0025 * math.sqrt(tau)
    prm[core.P_LAMBDA0] = 0.3
    prm[core.P_JUMP] = 2.5
    prm[core.P_BOUNCE] = 0.4
    # planted-signal weights, calibrated so that the oracle beats the majority class
    # by ~8-15 accuracy points at the default run (docs/simulator.md)
    prm[core.P_W_F] = 1.2
    prm[core.P_W_X] = 1.6
    prm[core.P_W_C] = 0.7
    prm[core.P_RHO1] = -1.0
    prm[core.P_S_OI] = 0.008 * math.sqrt(tau)
    return prm


def _season_profile(ns: np.ndarray) -> np.ndarray:
    """Squared intraday / weekly volatility profile at instants ``ns`` (epoch ns)."""
    sec = ns // 1_000_000_000
    hour = (sec % 86_400) / 3_600.0
    weekday = (sec // 86_400 + 3) % 7  # 1970-01-01 was a Thursday (Monday = 0)
    # activity peaks with the US session (~15:00 UTC), small bumps at settlements,
    # quieter weekends
    daily = 1.0 + 0.35 * np.cos(2.0 * np.pi * (hour - 15.0) / 24.0)
    bump = 1.0 + 0.15 * np.exp(-(((hour + 0.5) % 8.0 - 0.5) ** 2) / 0.02)
    weekly = np.where(weekday >= 5, 0.75, 1.0)
    return (daily * bump) ** 2 * weekly


_WEEK_NS = np.arange(0, 7 * 86_400, 60, dtype=np.int64) * 1_000_000_000
_SEASON_NORM = float(_season_profile(_WEEK_NS).mean())


def _season(open_ns: np.ndarray, bar_ns: int) -> np.ndarray:
    """Per-bar volatility multiplier: RMS of the profile over the bar, mean-square 1.

    The profile repeats every week and every interval divides a week, so it is
    evaluated on one week of bars and looked up (fast for millions of bars).
    """
    week_ns = 7 * 86_400 * 1_000_000_000
    sub = 6
    offsets = ((np.arange(sub) + 0.5) / sub * bar_ns).astype(np.int64)
    week_open = np.arange(week_ns // bar_ns, dtype=np.int64) * bar_ns
    prof = _season_profile(week_open[:, None] + offsets[None, :]).mean(axis=1)
    table = np.sqrt(prof / _SEASON_NORM)
    return table[(open_ns % week_ns) // bar_ns]


def _settlements(open_ns: np.ndarray, bar_ns: int) -> np.ndarray:
    """True where a funding settlement (00/08/16 UTC) falls in (open, close]."""
    step = _SETTLEMENT.value
    close = open_ns + bar_ns
    return (close // step) > ((close - bar_ns) // step)


def _build_frame(
    st: State,
    sl: slice,
    index: pd.DatetimeIndex,
    draws: dict[str, np.ndarray],
    prm: np.ndarray,
    bar: pd.Timedelta,
    price_level: float,
) -> pd.DataFrame:
    """Observable columns from the latent state (vectorised; rows ``sl``)."""
    prev = slice(sl.start - 1, sl.stop - 1)
    close = np.exp(st.logp[sl])
    open_ = np.exp(st.logp[prev])  # open = previous close, exactly
    r = st.r[sl]
    sig = st.sig[sl]
    # extremes of a Brownian bridge from 0 to r with variance sig**2, sampled exactly
    # (so high >= max(open, close) and low <= min(open, close) by construction)
    up = np.sqrt(r * r - 2.0 * sig * sig * np.log(draws["high"][sl]))
    dn = np.sqrt(r * r - 2.0 * sig * sig * np.log(draws["low"][sl]))
    high = open_ * np.exp(0.5 * (r + up))
    low = open_ * np.exp(0.5 * (r - dn))
    vwap = (open_ + high + low + close) / 4.0

    casc = st.casc[sl].astype(np.float64)
    casc_prev = st.casc[prev].astype(np.float64)
    zret = (r - st.mu[sl]) / sig  # includes the cascade overshoot
    oi_mean = math.exp(prm[core.P_OI_MEAN])
    base_volume = _TURNOVER * oi_mean * (bar / _DAY)
    season = sig / st.sdev[sl]
    volume = (
        base_volume
        * season**1.5
        * np.exp(0.3 * draws["volume"][sl] - 0.045)
        * (0.5 + 0.6 * np.minimum(np.abs(zret), 8.0))
        * np.where(st.g[sl] == 1, 1.5, 1.0)
        * (1.0 + 3.0 * casc + 1.5 * casc_prev)  # liquidation volume spike
    )
    buy_share = expit(0.45 * zret + 0.25 * draws["taker"][sl])
    taker_buy = volume * buy_share
    trades = np.maximum(
        1.0,
        np.round(volume * vwap / _AVG_TRADE_USD * np.exp(0.1 * draws["trades"][sl])),
    )
    mark = close * np.exp(0.00003 * draws["mark"][sl])
    oi = np.exp(st.logoi[sl])
    crowd = np.tanh(st.x[sl])
    # the top-trader ratio follows the crowd partly and its own slow component
    phi_y = math.exp(-(bar / _DAY))
    y_all = lfilter([math.sqrt(1.0 - phi_y**2)], [1.0, -phi_y], draws["top"])
    columns = {
        "open": open_,
        "high": high,
        "low": low,
        "close": close,
        "volume": volume,
        "quote_volume": volume * vwap,
        "trades": trades,
        "taker_buy_volume": taker_buy,
        "taker_buy_quote_volume": taker_buy * vwap,
        "open_interest": oi,
        "open_interest_value": oi * mark,
        "funding_rate": st.f[sl],
        "long_short_ratio": np.exp(0.15 + 0.8 * crowd),
        "top_trader_long_short_ratio": np.exp(
            0.05 + 0.4 * crowd + 0.35 * np.tanh(y_all[sl])
        ),
        "taker_long_short_ratio": buy_share / (1.0 - buy_share),
        "mark_price": mark,
        "index_price": mark / (1.0 + st.p[sl]),
    }
    frame = pd.DataFrame(
        {
            c: np.asarray(columns[c], dtype=np.float64)
            for c in CANONICAL_COLUMNS
            if c in columns
        },
        index=index,
    )
    return frame


#: forced orders per 5-minute bar outside cascades, and their size as a share of OI
_LIQ_BASE_RATE = 0.4
_LIQ_ORDER_SHARE = 3e-6


def _liquidation_columns(
    st: State, sl: slice, prm: np.ndarray, bar: pd.Timedelta, key: int
) -> dict[str, np.ndarray]:
    """Per-bar liquidation volumes and counts, consistent with the latent cascades.

    In a cascade bar the crowded side is force-closed: its volume is exactly the
    open interest the cascade removes, ``OI_{k-1} * (1 - exp(-(0.03 + 0.07 |C|)))``
    with ``C = tanh(x_{k-1})`` (longs, i.e. SELL orders, when ``C > 0``), spread over
    many orders. Outside cascades a few small forced orders hit the side a bar's
    move goes against (more when the move is large or the regime turbulent). Drawn
    from streams of their own, consumed bar by bar, so the other columns, the truth
    and prefix stability are untouched.
    """
    total = st.r.shape[0]
    gens = [np.random.default_rng(c) for c in np.random.SeedSequence(key).spawn(4)]
    n_long, n_short, n_casc = (np.asarray(g.random(total)) for g in gens[:3])
    size_noise = np.asarray(gens[3].standard_normal(total))
    prev = slice(sl.start - 1, sl.stop - 1)
    tau = bar / pd.Timedelta(minutes=5)
    z = st.r[sl] / st.sig[sl]
    turbulent = np.where(st.g[sl] == 1, 1.5, 1.0)
    oi_prev = np.exp(st.logoi[prev])
    crowd = np.tanh(st.x[prev])
    casc = st.casc[sl]
    # Poisson counts by inversion of one uniform per bar (prefix-stable)
    lam_long = _LIQ_BASE_RATE * tau * turbulent * (1.0 + 1.5 * np.maximum(-z, 0) ** 2)
    lam_short = _LIQ_BASE_RATE * tau * turbulent * (1.0 + 1.5 * np.maximum(z, 0) ** 2)
    cnt_long = np.maximum(poisson.ppf(n_long[sl], lam_long), 0.0)
    cnt_short = np.maximum(poisson.ppf(n_short[sl], lam_short), 0.0)
    order = _LIQ_ORDER_SHARE * oi_prev * np.exp(0.5 * size_noise[sl] - 0.125)
    vol_long = cnt_long * order
    vol_short = cnt_short * order
    removed = oi_prev * (1.0 - np.exp(-(0.03 + 0.07 * np.abs(crowd))))
    casc_orders = np.where(
        casc,
        np.maximum(poisson.ppf(n_casc[sl], 40.0 + 160.0 * np.abs(crowd)), 1.0),
        0.0,
    )
    longs = casc & (crowd > 0)
    shorts = casc & ~(crowd > 0)
    vol_long = vol_long + np.where(longs, removed, 0.0)
    vol_short = vol_short + np.where(shorts, removed, 0.0)
    return {
        "liquidation_long_volume": vol_long,
        "liquidation_short_volume": vol_short,
        "liquidation_count": cnt_long + cnt_short + casc_orders,
    }


def _with_liquidations(
    frame: pd.DataFrame,
    st: State,
    sl: slice,
    prm: np.ndarray,
    bar: pd.Timedelta,
    key: int,
) -> pd.DataFrame:
    """``frame`` plus the liquidation columns, in canonical column order."""
    for name, values in _liquidation_columns(st, sl, prm, bar, key).items():
        frame[name] = np.asarray(values, dtype=np.float64)
    return frame[[c for c in CANONICAL_COLUMNS if c in frame.columns]]


class Simulation(NamedTuple):
    """Everything :func:`run_simulation` produces (arrays cover history + burn-in)."""

    frame: pd.DataFrame
    state: State
    params: np.ndarray
    season: np.ndarray
    settle: np.ndarray
    offset: int
    mc_seed: int


def scale_signal(prm: np.ndarray, strength: float) -> np.ndarray:
    """Scale every planted predictable relation of ``prm`` by ``strength``.

    The planted signal's three weights and the cascade bounce scale linearly; the
    cascade hazard (whose overshoot direction is predictable from the crowd) scales
    by ``min(strength, 1)`` so a strong signal never makes cascades more frequent.
    At 0 the forward return given the state is symmetric noise around zero: no
    relation is left for a model to learn (docs/simulator.md).
    """
    out = prm.copy()
    for index in (core.P_W_F, core.P_W_X, core.P_W_C, core.P_BOUNCE):
        out[index] *= strength
    out[core.P_LAMBDA0] *= min(strength, 1.0)
    return out


def run_simulation(
    symbol: str,
    seed: int,
    stamp: pd.Timestamp,
    bar: pd.Timedelta,
    n_bars: int,
    signal_strength: float = 1.0,
) -> Simulation:
    """Simulate ``n_bars`` bars of ``bar`` length opening at ``stamp`` (validated)."""
    prm = _model_params(bar)
    if signal_strength != 1.0:
        prm = scale_signal(prm, signal_strength)
    level = _price_level(symbol)
    prm[core.P_OI_MEAN] = math.log(_OI_VALUE / level)
    offset = core.PRE + BURN_IN
    total = offset + n_bars
    bar_ns = bar.value
    open_ns = stamp.value + (np.arange(total, dtype=np.int64) - offset) * bar_ns
    season = _season(open_ns, bar_ns)
    settle = _settlements(open_ns, bar_ns)

    key = _stable_key("perpml.synthetic", int(seed), symbol, stamp.value)
    children = np.random.SeedSequence(key).spawn(len(_STREAMS) + 1)
    # one generator per stream, each consumed bar by bar: prefixes are stable
    gens = dict(
        zip(_STREAMS, (np.random.default_rng(c) for c in children), strict=False)
    )
    t_scale = math.sqrt((core.T_DOF - 2.0) / core.T_DOF)
    draws = {
        "regime": gens["regime"].random(total),
        "shock": gens["shock"].standard_t(core.T_DOF, total) * t_scale,
        "crowd": gens["crowd"].standard_normal(total),
        "premium": gens["premium"].standard_normal(total),
        "oi": gens["oi"].standard_normal(total),
        "cascade": gens["cascade"].random(total),
        # 1 - U in (0, 1]: log() of it is finite
        "high": 1.0 - gens["high"].random(total),
        "low": 1.0 - gens["low"].random(total),
        "volume": gens["volume"].standard_normal(total),
        "taker": gens["taker"].standard_normal(total),
        "trades": gens["trades"].standard_normal(total),
        "mark": gens["mark"].standard_normal(total),
        "top": gens["top"].standard_normal(total),
    }
    mc_seed = int(children[-1].generate_state(1, dtype=np.uint32)[0])
    state = State(
        *core.simulate_core(
            prm, season, settle, draws["regime"], draws["shock"], draws["crowd"],
            draws["premium"], draws["oi"], draws["cascade"], math.log(level),
        )
    )  # fmt: skip
    index = pd.DatetimeIndex(
        pd.to_datetime(open_ns[offset:], unit="ns", utc=True), name=INDEX_NAME
    )
    frame = _build_frame(state, slice(offset, total), index, draws, prm, bar, level)
    liq_key = _stable_key(
        "perpml.synthetic.liquidations", int(seed), symbol, stamp.value
    )
    frame = _with_liquidations(frame, state, slice(offset, total), prm, bar, liq_key)
    return Simulation(frame, state, prm, season, settle, offset, mc_seed)
