"""Numba kernels of the market simulator: the latent-state recursion and its truth.

This module is private to :mod:`perpml.data.sources.synthetic`. It holds the only
sequential parts of the generative model (regime chain, GARCH variance, crowd
positioning, premium / funding settlement, open interest, liquidation cascades and the
planted drift pipeline) as one step function, :func:`_step`, used **both** by the
forward simulation (:func:`simulate_core`) and by the Monte-Carlo continuation that
computes the truth (:func:`mc_truth`). Sharing the step is what makes the truth the
exact conditional law of the simulator, not of a look-alike model.

Model parameters travel as one float vector (indices ``P_*`` below) so that the
kernels are compiled once per process whatever the bar interval.
"""

# The kernels use numba's thread-local legacy RNG (np.random.seed / random inside
# njit): it is the one a compiled, parallel loop can re-seed per bar.
# ruff: noqa: NPY002

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

# lookback (bars) of the OI / price changes the planted signal reads, and number of
# bars over which each bar's planted drift is delivered
SIGNAL_LAG = 12
DRIFT_BARS = 12
#: history kept in front of every buffer so ``buf[k - SIGNAL_LAG - 1]`` exists
PRE = max(SIGNAL_LAG, DRIFT_BARS) + 1

#: Student-t degrees of freedom of the price shocks (odd: closed-form CDF below)
T_DOF = 5.0
#: funding interest-rate component and the Binance clamp / cap (per 8 h)
FUNDING_INTEREST = 0.0001
FUNDING_CLAMP = 0.0005
FUNDING_CAP = 0.0075

# indices into the parameter vector built by synthetic._model_params
P_STAY0 = 0  # P(calm -> calm) per bar
P_STAY1 = 1  # P(turbulent -> turbulent) per bar
P_GARCH_A = 2  # GARCH alpha
P_GARCH_PHI = 3  # GARCH persistence alpha + beta
P_SIG0 = 4  # long-run per-bar volatility of log returns
P_MULT0 = 5  # calm volatility multiplier
P_MULT1 = 6  # turbulent volatility multiplier
P_PHI_M = 7  # momentum EMA coefficient
P_PHI_X = 8  # crowd positioning AR coefficient
P_KAPPA_X = 9  # crowd trend chasing per unit standardized return
P_SIG_X = 10  # crowd positioning noise
P_PHI_P = 11  # premium AR coefficient
P_KAPPA_P = 12  # premium sensitivity to crowd positioning
P_SIG_P = 13  # premium noise
P_A_OI = 14  # OI build-up per unit |momentum|
P_THETA_OI = 15  # OI mean reversion per bar
P_OI_MEAN = 16  # long-run log OI
P_SIG_OI = 17  # OI noise
P_LAMBDA0 = 18  # cascade hazard scale
P_JUMP = 19  # cascade overshoot in sigma units
P_BOUNCE = 20  # share of the overshoot that reverts over the next DRIFT_BARS
P_W_F = 21  # weight of the contrarian extreme-funding term
P_W_X = 22  # weight of the OI x price interaction term
P_W_C = 23  # weight of the contrarian crowd term
P_RHO1 = 24  # sign / size of the interaction term in the turbulent regime
P_S_OI = 25  # scale of the 12-bar OI change inside tanh
P_PREM0 = 26  # premium level with a flat crowd
N_PARAMS = 27


@njit(cache=True)
def _eps_cdf(e: float) -> float:
    """CDF of the unit-variance Student-t(5) shock (closed form for 5 d.o.f.)."""
    tval = e * math.sqrt(T_DOF / (T_DOF - 2.0))
    th = math.atan(tval / math.sqrt(T_DOF))
    c = math.cos(th)
    return 0.5 + (th + math.sin(th) * c * (1.0 + (2.0 / 3.0) * c * c)) / math.pi


@njit(cache=True)
def _garch(prm: np.ndarray, v_prev: float, eps_prev: float) -> float:
    a = prm[P_GARCH_A]
    phi = prm[P_GARCH_PHI]
    # capping the squared shock and the variance keeps t(5) x GARCH from producing
    # absurd bars while leaving the clustering intact
    v = (1.0 - phi) + a * min(eps_prev * eps_prev, 30.0) + (phi - a) * v_prev
    return min(max(v, 0.05), 16.0)


@njit(cache=True)
def _hazard(prm: np.ndarray, k: int, x_prev: float, sdev_prev: float, logp: np.ndarray):
    """Cascade probability of bar k and the direction of its overshoot.

    Depends on the state at bar k-1 only, so the last Monte-Carlo step can
    integrate the cascade out exactly.
    """
    crowd = math.tanh(x_prev)
    direction = -1.0 if crowd > 0.0 else 1.0
    move = logp[k - 1] - logp[k - 1 - SIGNAL_LAG]
    adverse = direction * move / (sdev_prev * math.sqrt(SIGNAL_LAG))
    lam = prm[P_LAMBDA0] * max(abs(crowd) - 0.2, 0.0) * max(adverse - 0.5, 0.0) ** 2
    return min(lam, 0.5), direction


@njit(cache=True)
def _funding(avg_premium: float) -> float:
    """Binance funding formula: premium + clamp(interest - premium), capped."""
    if abs(FUNDING_INTEREST - avg_premium) <= FUNDING_CLAMP:
        # exactly the interest rate (not premium + (interest - premium) in floats)
        return FUNDING_INTEREST
    f = avg_premium + min(
        max(FUNDING_INTEREST - avg_premium, -FUNDING_CLAMP), FUNDING_CLAMP
    )
    return min(max(f, -FUNDING_CAP), FUNDING_CAP)


@njit(cache=True)
def _signal(
    prm: np.ndarray,
    g: int,
    x: float,
    funding: float,
    doi: float,
    dp: float,
    sdev: float,
) -> float:
    """The planted relation, in units of sigma * sqrt(DRIFT_BARS) of forward return."""
    contrarian_funding = -prm[P_W_F] * math.tanh(
        (funding - FUNDING_INTEREST) / FUNDING_CLAMP
    )
    rho = 1.0 if g == 0 else prm[P_RHO1]
    flow = (
        prm[P_W_X]
        * rho
        * math.tanh(doi / prm[P_S_OI])
        * math.tanh(dp / (sdev * math.sqrt(SIGNAL_LAG)))
    )
    crowd = -prm[P_W_C] * math.tanh(x)
    return contrarian_funding + flow + crowd


@njit(cache=True)
def _step(
    prm: np.ndarray,
    k: int,
    season_k: float,
    settle_k: bool,
    g_prev: int,
    v_prev: float,
    eps_prev: float,
    sdev_prev: float,
    x_prev: float,
    m_prev: float,
    p_prev: float,
    psum: float,
    pcnt: float,
    f_prev: float,
    logp: np.ndarray,
    logoi: np.ndarray,
    dd: np.ndarray,
    u_g: float,
    eps: float,
    eta: float,
    zeta: float,
    xi: float,
    u_c: float,
):
    """Advance the latent state from bar k-1 to bar k (writes logp/logoi/dd[k])."""
    stay = prm[P_STAY0] if g_prev == 0 else prm[P_STAY1]
    g = g_prev if u_g < stay else 1 - g_prev
    v = _garch(prm, v_prev, eps_prev)
    sdev = prm[P_SIG0] * (prm[P_MULT0] if g == 0 else prm[P_MULT1]) * math.sqrt(v)
    sig = sdev * season_k
    mu = 0.0
    for j in range(1, DRIFT_BARS + 1):
        mu += dd[k - j]
    mu /= DRIFT_BARS
    lam, direction = _hazard(prm, k, x_prev, sdev_prev, logp)
    casc = u_c < lam
    jump = direction * prm[P_JUMP] * sig if casc else 0.0
    r = mu + jump + sig * eps
    logp[k] = logp[k - 1] + r
    z = r / sig
    m = prm[P_PHI_M] * m_prev + (1.0 - prm[P_PHI_M]) * z
    x = prm[P_PHI_X] * x_prev + prm[P_KAPPA_X] * z + prm[P_SIG_X] * eta
    crowd_prev = abs(math.tanh(x_prev))
    drop = 0.0
    if casc:
        # forced liquidations close a large part of the crowded side
        x *= 0.4
        drop = 0.03 + 0.07 * crowd_prev
    logoi[k] = (
        logoi[k - 1]
        + prm[P_A_OI] * abs(m)
        - prm[P_THETA_OI] * (logoi[k - 1] - prm[P_OI_MEAN])
        + prm[P_SIG_OI] * xi
        - drop
    )
    p = (
        prm[P_PHI_P] * p_prev
        + (1.0 - prm[P_PHI_P]) * (prm[P_PREM0] + prm[P_KAPPA_P] * math.tanh(x))
        + prm[P_SIG_P] * zeta
    )
    psum += p
    pcnt += 1.0
    if settle_k:
        f = _funding(psum / pcnt)
        psum = 0.0
        pcnt = 0.0
    else:
        f = f_prev
    doi = logoi[k] - logoi[k - SIGNAL_LAG]
    dp = logp[k] - logp[k - SIGNAL_LAG]
    s = _signal(prm, g, x, f, doi, dp, sdev)
    # a persistent signal s gives a drift of s * sdev / sqrt(H) per bar, i.e. about
    # s * sdev * sqrt(H) over H bars; the cascade bounce emits BOUNCE x the overshoot
    dd[k] = s * sdev / math.sqrt(DRIFT_BARS) - prm[P_BOUNCE] * jump
    return g, v, sdev, x, m, p, psum, pcnt, f, r, casc, s, mu


@njit(cache=True)
def simulate_core(
    prm: np.ndarray,
    season: np.ndarray,
    settle: np.ndarray,
    u_g: np.ndarray,
    eps: np.ndarray,
    eta: np.ndarray,
    zeta: np.ndarray,
    xi: np.ndarray,
    u_c: np.ndarray,
    logp0: float,
):
    """Run the latent recursion over ``len(season)`` bars (the first PRE are history).

    Returns the state arrays, each of length n: regime, GARCH variance, shock,
    deseasonalised volatility, per-bar volatility, crowd, momentum, premium, premium
    sum / count since the last settlement, funding, log price, log OI, planted drift
    contribution, return, cascade flag, signal, drift of the bar.
    """
    n = season.shape[0]
    g = np.zeros(n, dtype=np.int8)
    v = np.ones(n)
    ep = np.zeros(n)
    sdev = np.full(n, prm[P_SIG0] * prm[P_MULT0])
    sig = sdev * season
    x = np.zeros(n)
    m = np.zeros(n)
    p = np.full(n, prm[P_PREM0])
    psum = np.zeros(n)
    pcnt = np.zeros(n)
    f = np.full(n, _funding(prm[P_PREM0]))
    logp = np.full(n, logp0)
    logoi = np.full(n, prm[P_OI_MEAN])
    dd = np.zeros(n)
    r = np.zeros(n)
    casc = np.zeros(n, dtype=np.bool_)
    s = np.zeros(n)
    mu = np.zeros(n)
    for k in range(PRE, n):
        out = _step(
            prm, k, season[k], settle[k], g[k - 1], v[k - 1], ep[k - 1], sdev[k - 1],
            x[k - 1], m[k - 1], p[k - 1], psum[k - 1], pcnt[k - 1], f[k - 1],
            logp, logoi, dd, u_g[k], eps[k], eta[k], zeta[k], xi[k], u_c[k],
        )  # fmt: skip
        g[k], v[k], sdev[k], x[k], m[k], p[k], psum[k], pcnt[k], f[k] = out[:9]
        r[k], casc[k], s[k], mu[k] = out[9:]
        ep[k] = eps[k]
        sig[k] = sdev[k] * season[k]
    return g, v, ep, sdev, sig, x, m, p, psum, pcnt, f, logp, logoi, dd, r, casc, s, mu


@njit(cache=True)
def _normal_pair():
    """Two independent standard normals (Marsaglia polar method)."""
    while True:
        a = 2.0 * np.random.random() - 1.0
        b = 2.0 * np.random.random() - 1.0
        w = a * a + b * b
        if 0.0 < w < 1.0:
            scale = math.sqrt(-2.0 * math.log(w) / w)
            return a * scale, b * scale


@njit(cache=True)
def _unit_t():
    """A unit-variance Student-t(5) draw (Bailey's polar method)."""
    while True:
        a = 2.0 * np.random.random() - 1.0
        b = 2.0 * np.random.random() - 1.0
        w = a * a + b * b
        if 0.0 < w < 1.0:
            tval = a * math.sqrt(T_DOF * (w ** (-2.0 / T_DOF) - 1.0) / w)
            return tval * math.sqrt((T_DOF - 2.0) / T_DOF)


@njit(cache=True)
def _mix_seed(base: int, pos: int) -> int:
    """A 32-bit seed for the Monte-Carlo paths of one bar (splitmix-style)."""
    z = (base * 0x9E3779B1 + pos * 0x85EBCA77 + 0x165667B1) & 0xFFFFFFFF
    z ^= z >> 15
    z = (z * 0x2C1B3C6D) & 0xFFFFFFFF
    z ^= z >> 12
    z = (z * 0x297A2D39) & 0xFFFFFFFF
    z ^= z >> 15
    return z


@njit(cache=True)
def _continue_path(
    prm: np.ndarray,
    t: int,
    horizon: int,
    th: float,
    barrier: bool,
    sign: float,
    draws: np.ndarray,
    bp: np.ndarray,
    boi: np.ndarray,
    bdd: np.ndarray,
    season: np.ndarray,
    settle: np.ndarray,
    g: np.ndarray,
    v: np.ndarray,
    ep: np.ndarray,
    sdev: np.ndarray,
    x: np.ndarray,
    m: np.ndarray,
    p: np.ndarray,
    psum: np.ndarray,
    pcnt: np.ndarray,
    f: np.ndarray,
    logp: np.ndarray,
    logoi: np.ndarray,
    dd: np.ndarray,
):
    """One path from the state at t: (P(R < -th), P(R > th), E[R]) given its draws.

    ``sign=-1`` runs the antithetic twin (shocks negated, uniforms mirrored). With
    ``barrier`` the class is the first of +-th the close path crosses (triple
    barrier): a path that crossed before the last bar counts fully for that side.
    """
    for j in range(PRE):
        bp[j] = logp[t - PRE + 1 + j]
        boi[j] = logoi[t - PRE + 1 + j]
        bdd[j] = dd[t - PRE + 1 + j]
    gk = int(g[t])
    vk = v[t]
    ek = ep[t]
    sk = sdev[t]
    xk = x[t]
    mk = m[t]
    pk = p[t]
    ps = psum[t]
    pc = pcnt[t]
    fk = f[t]
    touched = 0  # +1 / -1: first barrier crossed before the last bar
    for step in range(1, horizon):
        k = PRE - 1 + step
        u = t + step
        row = draws[step - 1]
        u_g = row[0] if sign > 0 else 1.0 - row[0]
        u_c = row[5] if sign > 0 else 1.0 - row[5]
        e_new = sign * row[1]
        out = _step(
            prm, k, season[u], settle[u], gk, vk, ek, sk, xk, mk, pk, ps, pc, fk,
            bp, boi, bdd, u_g, e_new, sign * row[2], sign * row[3], sign * row[4], u_c,
        )  # fmt: skip
        gk, vk, sk, xk, mk, pk, ps, pc, fk = out[:9]
        ek = e_new
        if barrier and touched == 0:
            move = bp[k] - bp[PRE - 1]
            if move > th:
                touched = 1
            elif move < -th:
                touched = -1
    # the last bar is integrated exactly: regime switch x cascade x Student-t shock
    k = PRE - 1 + horizon
    u = t + horizon
    base = bp[k - 1] - bp[PRE - 1]
    mu = 0.0
    for j in range(1, DRIFT_BARS + 1):
        mu += bdd[k - j]
    mu /= DRIFT_BARS
    lam, direction = _hazard(prm, k, xk, sk, bp)
    v_last = _garch(prm, vk, ek)
    stay = prm[P_STAY0] if gk == 0 else prm[P_STAY1]
    acc_dn = 0.0
    acc_up = 0.0
    acc_mean = 0.0
    for gl in range(2):
        pg = stay if gl == gk else 1.0 - stay
        mult = prm[P_MULT0] if gl == 0 else prm[P_MULT1]
        sig = prm[P_SIG0] * mult * math.sqrt(v_last) * season[u]
        for c in range(2):
            w = pg * (lam if c == 1 else 1.0 - lam)
            if w == 0.0:
                continue
            center = base + mu + (direction * prm[P_JUMP] * sig if c == 1 else 0.0)
            acc_mean += w * center
            if not math.isnan(th) and touched == 0:
                acc_up += w * (1.0 - _eps_cdf((th - center) / sig))
                acc_dn += w * _eps_cdf((-th - center) / sig)
    if touched == 1:
        acc_up = 1.0
    elif touched == -1:
        acc_dn = 1.0
    return acc_dn, acc_up, acc_mean


@njit(cache=True, parallel=True)
def mc_truth(
    prm: np.ndarray,
    positions: np.ndarray,
    horizon: int,
    thr: np.ndarray,
    barrier: bool,
    n_paths: int,
    seed32: int,
    season: np.ndarray,
    settle: np.ndarray,
    g: np.ndarray,
    v: np.ndarray,
    ep: np.ndarray,
    sdev: np.ndarray,
    x: np.ndarray,
    m: np.ndarray,
    p: np.ndarray,
    psum: np.ndarray,
    pcnt: np.ndarray,
    f: np.ndarray,
    logp: np.ndarray,
    logoi: np.ndarray,
    dd: np.ndarray,
):
    """P(R < -thr), P(R > thr) and E[R] for R = logp[t+h] - logp[t], given state at t.

    Continues the recursion from each bar ``t`` in ``positions`` along ``n_paths``
    paths (``n_paths / 2`` antithetic pairs) of ``horizon - 1`` full steps; the last
    step is integrated out exactly. With ``barrier`` the probabilities are those of
    the first barrier crossed by the close path (triple barrier); E[R] is unchanged.
    The RNG is re-seeded from (seed32, t) for every
    bar, so each row depends on the state at t and the seed only, whatever other
    rows are requested and however threads are scheduled.
    """
    n_out = positions.shape[0]
    p_dn = np.empty(n_out)
    p_up = np.empty(n_out)
    mean = np.empty(n_out)
    size = PRE + horizon + 1
    n_pairs = n_paths // 2
    for i in prange(n_out):
        t = positions[i]
        np.random.seed(_mix_seed(seed32, t))
        bp = np.empty(size)
        boi = np.empty(size)
        bdd = np.empty(size)
        draws = np.empty((max(horizon - 1, 1), 6))
        th = thr[i]
        acc_dn = 0.0
        acc_up = 0.0
        acc_mean = 0.0
        for _ in range(n_pairs):
            for step in range(horizon - 1):
                draws[step, 0] = np.random.random()
                draws[step, 1] = _unit_t()
                draws[step, 2], draws[step, 3] = _normal_pair()
                draws[step, 4], _unused = _normal_pair()
                draws[step, 5] = np.random.random()
            for sign in (1.0, -1.0):
                a, b, c = _continue_path(
                    prm, t, horizon, th, barrier, sign, draws, bp, boi, bdd, season,
                    settle, g, v, ep, sdev, x, m, p, psum, pcnt, f, logp, logoi, dd,
                )  # fmt: skip
                acc_dn += a
                acc_up += b
                acc_mean += c
        total = 2.0 * n_pairs
        mean[i] = acc_mean / total
        if math.isnan(th):
            p_dn[i] = np.nan
            p_up[i] = np.nan
        else:
            p_dn[i] = acc_dn / total
            p_up[i] = acc_up / total
    return p_dn, p_up, mean
