"""Causal numeric kernels shared by the feature modules (private).

Every kernel computes row ``t`` from rows ``<= t`` only, visiting rows in ascending
order, so cutting a series at its end never changes earlier outputs (bit for bit).
Windows containing a missing value (NaN or inf: "unknown at that bar") give NaN: an
unknown input is never treated as zero.

Rolling mean/variance use Welford add/remove updates, whose round-off is relative to
the window's own deviations (no catastrophic cancellation of raw sums of squares for
funding rates ~1e-4 or prices ~1e5), and are recomputed exactly (two-pass) every
``max(2 * window, 64)`` rows to bound drift; rolling sums resync every :data:`RESYNC`
rows. The resync positions are absolute row numbers, so truncation at the end is still
exact.
"""

from __future__ import annotations

from typing import Final

import numba
import numpy as np
import talib

__all__ = [
    "RESYNC",
    "diff",
    "log_change",
    "oi_price_quadrant",
    "rolling_max",
    "rolling_mean",
    "rolling_mean_std",
    "rolling_min",
    "rolling_std",
    "rolling_sum",
    "rolling_zscore",
    "safe_div",
    "safe_log",
    "shift",
    "store_column",
]

#: Rows between exact recomputations of the running sums.
RESYNC: Final[int] = 4096

#: Windows up to this length get an exact two-pass mean/variance at every row.
_DIRECT_MAX_WINDOW: Final[int] = 8


@numba.njit(cache=True, nogil=True)
def _moments(x, w):  # pragma: no cover - compiled
    # Welford add/remove updates (error relative to the window's own deviations),
    # an exact two-pass recompute every max(2w, 64) rows (absolute positions), and
    # exact constancy detection so a flat window has variance exactly 0.
    n = x.shape[0]
    mean = np.full(n, np.nan)
    var = np.full(n, np.nan)
    resync = max(2 * w, 64)
    inv_w = 1.0 / w
    cnt = 0  # finite values in the window
    bad = 0  # unknown values in the window
    mu = 0.0
    m2 = 0.0
    run = 0  # consecutive rows (ending at t) equal to x[t]
    for t in range(n):
        v = x[t]
        if t > 0 and v == x[t - 1]:
            run += 1
        else:
            run = 1
        # short windows: an exact two-pass per row is cheap and avoids update
        # round-off where the window's spread is tiny relative to its level
        if t % resync == 0 or w <= _DIRECT_MAX_WINDOW:
            lo = max(0, t - w + 1)
            cnt = 0
            bad = 0
            mu = 0.0
            for i in range(lo, t + 1):
                if np.isfinite(x[i]):
                    cnt += 1
                    mu += x[i]
                else:
                    bad += 1
            mu = mu / cnt if cnt > 0 else 0.0
            m2 = 0.0
            for i in range(lo, t + 1):
                if np.isfinite(x[i]):
                    m2 += (x[i] - mu) * (x[i] - mu)
        elif t >= w and cnt == w and np.isfinite(v) and np.isfinite(x[t - w]):
            # steady state (full window in, full window out): fixed-size update
            u = x[t - w]
            d = v - u
            mu_new = mu + d * inv_w
            m2 += d * ((v - mu_new) + (u - mu))
            mu = mu_new
        else:
            if t >= w:
                u = x[t - w]
                if np.isfinite(u):
                    cnt -= 1
                    if cnt == 0:
                        mu = 0.0
                        m2 = 0.0
                    else:
                        d = u - mu
                        mu -= d / cnt
                        m2 -= d * (u - mu)
                else:
                    bad -= 1
            if np.isfinite(v):
                cnt += 1
                d = v - mu
                mu += d / cnt
                m2 += d * (v - mu)
            else:
                bad += 1
        if t >= w - 1 and bad == 0:
            if run >= w:
                mean[t] = v
                var[t] = 0.0
            else:
                mean[t] = mu
                var[t] = max(m2, 0.0) / (w - 1) if w > 1 else 0.0
    return mean, var


@numba.njit(cache=True, nogil=True)
def _sum(x, w, resync):  # pragma: no cover - compiled
    n = x.shape[0]
    out = np.full(n, np.nan)
    s = 0.0
    bad = 0
    for t in range(n):
        if t % resync == 0:
            s = 0.0
            bad = 0
            for i in range(max(0, t - w + 1), t + 1):
                if np.isfinite(x[i]):
                    s += x[i]
                else:
                    bad += 1
        else:
            if np.isfinite(x[t]):
                s += x[t]
            else:
                bad += 1
            if t >= w:
                if np.isfinite(x[t - w]):
                    s -= x[t - w]
                else:
                    bad -= 1
        if t >= w - 1 and bad == 0:
            out[t] = s
    return out


@numba.njit(cache=True, nogil=True)
def _zscore(x, w):  # pragma: no cover - compiled
    mean, var = _moments(x, w)
    out = np.empty_like(mean)
    for t in range(x.shape[0]):
        v = var[t]
        if v == 0.0:
            out[t] = 0.0
        else:
            out[t] = (x[t] - mean[t]) / np.sqrt(v)  # NaN stays NaN
    return out


@numba.njit(cache=True, nogil=True)
def _log_change(x, k):  # pragma: no cover - compiled
    n = x.shape[0]
    out = np.empty(n)
    for t in range(min(k, n)):
        out[t] = np.nan
    for t in range(k, n):
        a = x[t]
        b = x[t - k]
        # log(a / b) is undefined for non-positive or unknown values
        if a > 0.0 and b > 0.0 and a < np.inf and b < np.inf:
            out[t] = np.log(a) - np.log(b)
        else:
            out[t] = np.nan
    return out


@numba.njit(cache=True, nogil=True)
def _quadrant(log_oi, log_px, k, oi_sign, px_sign):  # pragma: no cover - compiled
    n = log_oi.shape[0]
    out = np.empty(n)
    for t in range(n):
        if t < k:
            out[t] = np.nan
            continue
        d_oi = log_oi[t] - log_oi[t - k]
        d_px = log_px[t] - log_px[t - k]
        if not (np.isfinite(d_oi) and np.isfinite(d_px)):
            out[t] = np.nan
        elif np.sign(d_oi) == oi_sign and np.sign(d_px) == px_sign:
            out[t] = abs(d_oi)
        else:
            out[t] = 0.0
    return out


@numba.njit(cache=True, nogil=True)
def store_column(values, col, warmup):  # pragma: no cover - compiled
    """Write float64 ``values`` into float32 ``col``: NaN before ``warmup``, inf -> NaN."""
    n = values.shape[0]
    for t in range(n):
        v = values[t]
        if t < warmup or not np.isfinite(v):
            col[t] = np.nan
        else:
            col[t] = v  # values beyond float32 range become inf: caught below
            if not np.isfinite(col[t]):
                col[t] = np.nan


def _f64(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float64)


def shift(x: np.ndarray, k: int) -> np.ndarray:
    """Return ``x`` delayed by ``k >= 0`` rows (``out[t] = x[t-k]``), NaN-padded."""
    n = x.shape[0]
    k = min(int(k), n)
    out = np.empty(n, dtype=np.float64)
    out[:k] = np.nan
    out[k:] = x[: n - k]
    return out


def diff(x: np.ndarray, k: int) -> np.ndarray:
    """Return ``x[t] - x[t-k]`` of shape (n,), NaN for ``t < k``."""
    n = x.shape[0]
    k = min(int(k), n)
    out = np.empty(n, dtype=np.float64)
    out[:k] = np.nan
    np.subtract(x[k:], x[: n - k], out=out[k:])
    return out


def safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return ``a / b`` with NaN where ``b == 0`` or either side is unknown."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.divide(a, b)
    out[np.isinf(out)] = np.nan
    return out


def safe_log(x: np.ndarray) -> np.ndarray:
    """Return ``log(x)`` with NaN where ``x <= 0`` or unknown."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(x)
    out[np.isinf(out)] = np.nan
    return out


def log_change(x: np.ndarray, k: int) -> np.ndarray:
    """Return ``log(x[t] / x[t-k])`` of shape (n,); NaN for ``t < k`` or ``x <= 0``."""
    return _log_change(_f64(x), int(k))


def rolling_mean(x: np.ndarray, w: int) -> np.ndarray:
    """Mean of the last ``w`` rows (``t-w+1 .. t``); NaN if any of them is unknown."""
    out = _sum(_f64(x), int(w), RESYNC)
    out /= w
    return out


def oi_price_quadrant(
    log_oi: np.ndarray, log_close: np.ndarray, k: int, oi_sign: float, px_sign: float
) -> np.ndarray:
    """|OI k-bar log change| where (sign ΔOI, sign Δprice) == the given signs, else 0.

    Takes log open interest and log close; NaN where either change is unknown.
    Shape (n,).
    """
    return _quadrant(_f64(log_oi), _f64(log_close), int(k), oi_sign, px_sign)


def rolling_mean_std(x: np.ndarray, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Rolling mean and sample std (ddof=1) of the last ``w`` rows, in one pass."""
    mean, var = _moments(_f64(x), int(w))
    return mean, np.sqrt(var, out=var)


def rolling_std(x: np.ndarray, w: int) -> np.ndarray:
    """Sample standard deviation (ddof=1) of the last ``w >= 2`` rows."""
    var = _moments(_f64(x), int(w))[1]
    return np.sqrt(var, out=var)


def rolling_zscore(x: np.ndarray, w: int) -> np.ndarray:
    """``(x[t] - mean) / std`` over the last ``w`` rows including ``t``.

    A constant window (every value equal) gives 0: the current value does not
    deviate from the window.
    """
    return _zscore(_f64(x), int(w))


def rolling_sum(x: np.ndarray, w: int) -> np.ndarray:
    """Sum of the last ``w`` rows; NaN if any of them is unknown."""
    return _sum(_f64(x), int(w), RESYNC)


def _mask_unknown_windows(out: np.ndarray, x: np.ndarray, w: int) -> np.ndarray:
    bad = ~np.isfinite(x)
    if bad.any():
        # a window is unknown if it holds any unknown row: rolling count > 0
        out[_sum(bad.astype(np.float64), w, RESYNC) != 0.0] = np.nan
    return out


def rolling_max(x: np.ndarray, w: int) -> np.ndarray:
    """Maximum of the last ``w`` rows; NaN if any of them is unknown."""
    x = _f64(x)
    if x.shape[0] < w or not np.isfinite(x).any():
        return np.full(x.shape[0], np.nan)
    # TA-Lib's MAX is causal and O(n); unknown rows are masked afterwards
    out = talib.MAX(np.where(np.isfinite(x), x, np.nan), timeperiod=int(w))
    return _mask_unknown_windows(out, x, int(w))


def rolling_min(x: np.ndarray, w: int) -> np.ndarray:
    """Minimum of the last ``w`` rows; NaN if any of them is unknown."""
    x = _f64(x)
    if x.shape[0] < w or not np.isfinite(x).any():
        return np.full(x.shape[0], np.nan)
    out = talib.MIN(np.where(np.isfinite(x), x, np.nan), timeperiod=int(w))
    return _mask_unknown_windows(out, x, int(w))
