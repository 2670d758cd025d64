"""Overlap-aware 95 % intervals for accuracy, directional accuracy, balanced accuracy, IC.

With a label horizon of ``h`` bars, neighbouring labels share ``h - 1`` of their
``h`` forward returns and neighbouring predictions come from nearly the same
features, so "was row ``t`` predicted right" is strongly autocorrelated (lag-1 ≈ 0.6
at ``h = 12``). A binomial standard error treats the ``n`` rows as independent and is
2-3x too small. Every interval here is a **Newey-West (Bartlett-kernel HAC)**
interval of a per-row score series in time order:

* the metric is written as the mean of a per-row series ``z_t`` (exactly, or after
  linearising a ratio);
* its long-run variance is ``γ0 + 2 Σ_{k=1..L} (1 - k/(L+1)) γk`` with
  ``L = max(3 · horizon, ⌈4 (n/100)^(2/9)⌉)`` lags (:func:`hac_lags`), well beyond the
  ``h - 1`` lags over which overlapping labels are correlated, so the kernel's
  down-weighting loses little of that correlation;
* the standard error is never smaller than the independent-rows one (a negative
  long-run correlation estimate is sampling noise here, not a reason for a tighter
  band), so on independent rows the interval is the binomial (Wald) one;
* the interval is ``estimate ± 1.959964 · se``, clipped to the metric's range;
* the **effective sample size** ``n_eff = n · var_iid / var_hac`` is the number of
  independent rows that would give the same precision.

:func:`block_bootstrap_interval` (moving-block bootstrap, blocks ≥ horizon, fixed
seed) is provided as a cross-check; the reported figures are Newey-West (deterministic
and fast). Definitions and the verdict rule are in ``docs/metrics.md``.

Time semantics: every input is one value per evaluated bar, **in time order**
(ascending bar open time); rows from several walk-forward folds are concatenated in
time order and treated as one series, which is conservative (the purge gaps between
folds only weaken the correlation).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from perpml.exceptions import ConfigError, InsufficientDataError

__all__ = [
    "CONFIDENCE",
    "INTERVAL_METHOD",
    "Interval",
    "accuracy_interval",
    "balanced_accuracy_interval",
    "block_bootstrap_interval",
    "classification_intervals",
    "directional_accuracy_interval",
    "hac_lags",
    "ic_interval",
    "mean_interval",
    "paired_difference",
    "ratio_interval",
    "regression_intervals",
    "with_intervals",
]

#: Coverage of every interval.
CONFIDENCE = 0.95
#: Name of the reported method (recorded in metrics.json).
INTERVAL_METHOD = "newey_west"
_Z = float(stats.norm.ppf(0.5 + CONFIDENCE / 2))  # 1.959964
_NEUTRAL = 1


@dataclass(frozen=True)
class Interval:
    """A point estimate with its overlap-aware standard error and 95 % interval.

    Attributes
    ----------
    estimate : float
        The metric on the rows given.
    se : float
        Newey-West standard error (never below the independent-rows one).
    low, high : float
        ``estimate ± 1.96 se``, clipped to the metric's range.
    n : int
        Rows the metric is computed on.
    n_eff : float
        Effective number of independent rows, ``n · var_iid / var_hac`` (≤ n).
    lags : int
        Newey-West lags used.
    t_stat : float
        ``estimate / se`` (the overlap-aware t-statistic against 0).
    """

    estimate: float
    se: float
    low: float
    high: float
    n: int
    n_eff: float
    lags: int

    @property
    def t_stat(self) -> float:
        """``estimate / se`` (NaN when ``se`` is 0 or NaN)."""
        if not self.se > 0:
            return math.nan
        return self.estimate / self.se

    @property
    def ci(self) -> list[float]:
        """``[low, high]`` (the form written to ``metrics.json``)."""
        return [self.low, self.high]


_NAN_INTERVAL = Interval(math.nan, math.nan, math.nan, math.nan, 0, math.nan, 0)


def _check_horizon(horizon: int) -> int:
    if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer):
        raise ConfigError(
            f"`horizon` must be a positive int (bars), got {horizon!r}. Pass the label "
            "horizon, e.g. horizon=12 ([targets] horizon)."
        )
    if horizon < 1:
        raise ConfigError(
            f"`horizon` must be >= 1 bar, got {horizon}. Pass the label horizon "
            "([targets] horizon)."
        )
    return int(horizon)


def hac_lags(n: int, horizon: int) -> int:
    """Newey-West lags for ``n`` rows of ``horizon``-bar labels.

    ``max(3 · horizon, ⌈4 (n / 100)^(2/9)⌉)``, at most ``n - 1``: three horizons keep
    the Bartlett kernel's weight above 2/3 over the ``h - 1`` lags where overlapping
    labels are correlated; the second term is Newey-West's usual rule for long series.
    """
    horizon = _check_horizon(horizon)
    rule = math.ceil(4 * (max(n, 1) / 100) ** (2 / 9))
    return int(max(0, min(max(3 * horizon, rule), n - 1)))


def _long_run_variance(z: np.ndarray, lags: int) -> tuple[float, float]:
    """(γ0, Bartlett long-run variance) of ``z`` (population autocovariances)."""
    n = len(z)
    d = z - z.mean()
    gamma0 = float(d @ d) / n
    lrv = gamma0
    if lags > 0 and n > 1:
        # Autocovariances through one FFT: O(n log n) for any number of lags.
        size = 1 << (2 * n - 1).bit_length()
        spec = np.fft.rfft(d, size)
        acov = np.fft.irfft(spec * np.conj(spec), size)[: lags + 1] / n
        k = np.arange(1, lags + 1)
        lrv += 2.0 * float(np.sum((1.0 - k / (lags + 1.0)) * acov[1 : lags + 1]))
    return gamma0, lrv


def mean_interval(
    values: Any,
    *,
    horizon: int,
    bounds: tuple[float, float] = (-math.inf, math.inf),
    estimate: float | None = None,
    n: int | None = None,
) -> Interval:
    """Newey-West interval of the mean of a per-row series.

    Parameters
    ----------
    values : array-like of shape (n_rows,)
        One value per bar, in time order; no NaN.
    horizon : int
        Label horizon in bars (sets the lags, :func:`hac_lags`).
    bounds : (float, float)
        Range the interval is clipped to (e.g. ``(0, 1)`` for a share).
    estimate : float, optional
        Report this point estimate instead of ``mean(values)`` (used when ``values``
        is a linearisation whose mean is the metric's deviation, e.g. a ratio).
    n : int, optional
        Rows the metric is computed on, if fewer than ``len(values)`` (a ratio over
        a subset of the rows).

    Returns
    -------
    Interval
    """
    z = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(z) == 0:
        raise InsufficientDataError(
            "Cannot compute an interval on 0 rows. Pass at least one evaluated row."
        )
    if np.isnan(z).any():
        raise ConfigError(
            f"`values` holds {int(np.isnan(z).sum())} NaN value(s); intervals need a "
            "score for every row. Drop unscored rows first."
        )
    lags = hac_lags(len(z), horizon)
    gamma0, lrv = _long_run_variance(z, lags)
    lrv = max(lrv, gamma0)  # never tighter than independent rows
    se = math.sqrt(lrv / len(z))
    est = float(z.mean()) if estimate is None else float(estimate)
    rows = len(z) if n is None else int(n)
    n_eff = rows * gamma0 / lrv if lrv > 0 else float(rows)
    low, high = bounds
    return Interval(
        estimate=est,
        se=se,
        low=float(min(max(est - _Z * se, low), high)),
        high=float(max(min(est + _Z * se, high), low)),
        n=rows,
        n_eff=float(n_eff),
        lags=lags,
    )


def ratio_interval(
    numerator: Any, mask: Any, *, horizon: int, bounds: tuple[float, float] = (0, 1)
) -> Interval:
    """Interval of ``Σ m_t x_t / Σ m_t`` (a share over a subset of rows).

    Linearised (delta method) as the mean of ``m_t (x_t - R) / mean(m)``, kept at
    every row so the subset's time structure (and its gaps) is respected.

    Parameters
    ----------
    numerator : array-like of shape (n_rows,)
        ``x_t`` per row (e.g. 1 when the direction was right).
    mask : array-like of bool, shape (n_rows,)
        Rows that enter the ratio.
    """
    x = np.asarray(numerator, dtype=np.float64).reshape(-1)
    m = np.asarray(mask, dtype=bool).reshape(-1)
    if not m.any():
        return _NAN_INTERVAL
    ratio = float(x[m].mean())
    z = np.where(m, x - ratio, 0.0) / m.mean()
    return mean_interval(
        ratio + z, horizon=horizon, bounds=bounds, estimate=ratio, n=int(m.sum())
    )


def _classes(y: Any, name: str) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ConfigError(f"`{name}` must be 1-D (one class per bar), got {arr.shape}.")
    if arr.dtype.kind == "f":
        if np.isnan(arr).any():
            raise ConfigError(
                f"`{name}` holds NaN; drop unlabelled or unscored rows first."
            )
        arr = arr.astype(np.int64)
    return arr.astype(np.int64)


def _pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    t, p = _classes(y_true, "y_true"), _classes(y_pred, "y_pred")
    if len(t) != len(p):
        raise ConfigError(
            f"`y_true` and `y_pred` must have the same length, got {len(t)} and "
            f"{len(p)}. Score exactly the rows you predict."
        )
    return t, p


def accuracy_interval(y_true: Any, y_pred: Any, *, horizon: int) -> Interval:
    """Interval of the accuracy (share of rows whose class is right)."""
    t, p = _pair(y_true, y_pred)
    return mean_interval((t == p).astype(np.float64), horizon=horizon, bounds=(0, 1))


def directional_accuracy_interval(
    y_true: Any, y_pred: Any, *, horizon: int, neutral: int = _NEUTRAL
) -> Interval:
    """Interval of the directional accuracy (rows where neither side is NEUTRAL)."""
    t, p = _pair(y_true, y_pred)
    mask = (t != neutral) & (p != neutral)
    return ratio_interval((t == p).astype(np.float64), mask, horizon=horizon)


def balanced_accuracy_interval(y_true: Any, y_pred: Any, *, horizon: int) -> Interval:
    """Interval of the balanced accuracy (mean recall over the classes present).

    Written as the mean of ``z_t = n · [y_t = ŷ_t] / (K · n_{y_t})`` (K classes
    present, ``n_c`` rows of class c), i.e. conditional on the class counts.
    """
    t, p = _pair(y_true, y_pred)
    classes, inverse, counts = np.unique(t, return_inverse=True, return_counts=True)
    z = len(t) * (t == p) / (len(classes) * counts[inverse])
    return mean_interval(z, horizon=horizon, bounds=(0, 1))


def ic_interval(
    y_true: Any, forecast: Any, *, horizon: int, kind: str = "spearman"
) -> Interval:
    """Interval and overlap-aware t-statistic of the information coefficient.

    The correlation is the mean of ``u_t = (a_t - ā)(b_t - b̄) / (s_a s_b)`` (ranks
    for ``kind="spearman"``); its Newey-West standard error gives the interval and
    ``Interval.t_stat``. NaN interval for a constant input.
    """
    if kind not in ("spearman", "pearson"):
        raise ConfigError(f"`kind` must be 'spearman' or 'pearson', got {kind!r}.")
    a = np.asarray(y_true, dtype=np.float64).reshape(-1)
    b = np.asarray(forecast, dtype=np.float64).reshape(-1)
    if len(a) != len(b):
        raise ConfigError(
            f"`y_true` and `forecast` must have the same length, got {len(a)} and "
            f"{len(b)}."
        )
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return _NAN_INTERVAL
    if kind == "spearman":
        a, b = stats.rankdata(a), stats.rankdata(b)
    u = ((a - a.mean()) / a.std()) * ((b - b.mean()) / b.std())
    return mean_interval(u, horizon=horizon, bounds=(-1, 1))


def paired_difference(
    y_true: Any, pred_model: Any, pred_baseline: Any, *, horizon: int
) -> Interval:
    """Interval of accuracy(model) - accuracy(baseline) on the **same** rows.

    The per-row difference ``[ŷ_model = y] - [ŷ_baseline = y]`` keeps the pairing, so
    rows both get right (or wrong) cost no variance, unlike two separate intervals.
    """
    t, p = _pair(y_true, pred_model)
    _, q = _pair(y_true, pred_baseline)
    d = (t == p).astype(np.float64) - (t == q).astype(np.float64)
    return mean_interval(d, horizon=horizon, bounds=(-1, 1))


def block_bootstrap_interval(
    values: Any,
    *,
    horizon: int,
    block: int | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> Interval:
    """Moving-block bootstrap interval of a mean (a cross-check of Newey-West).

    Blocks of ``block`` rows (default ``3 · horizon``; at least ``horizon``) are
    drawn with replacement from the ``n - block + 1`` overlapping blocks until ``n``
    rows are filled; the standard error is the spread of the resampled means and the
    interval its 2.5 %-97.5 % percentiles. Seeded (``seed``): the same input gives
    the same interval.
    """
    z = np.asarray(values, dtype=np.float64).reshape(-1)
    horizon = _check_horizon(horizon)
    n = len(z)
    if n == 0:
        raise InsufficientDataError("Cannot bootstrap 0 rows.")
    size = 3 * horizon if block is None else int(block)
    if size < horizon:
        raise ConfigError(
            f"`block` must be >= horizon ({horizon}) so a block spans an overlapping "
            f"label, got {size}."
        )
    size = min(size, n)
    rng = np.random.default_rng(seed)
    n_blocks = math.ceil(n / size)
    starts = rng.integers(0, n - size + 1, size=(n_boot, n_blocks))
    csum = np.concatenate([[0.0], np.cumsum(z)])
    sums = (csum[starts + size] - csum[starts]).sum(axis=1)
    means = sums / (n_blocks * size)
    se = float(means.std(ddof=1))
    var_iid = float(z.var())
    n_eff = n * var_iid / (n * se * se) if se > 0 else float(n)
    low, high = np.percentile(means, [2.5, 97.5])
    return Interval(
        estimate=float(z.mean()),
        se=se,
        low=float(low),
        high=float(high),
        n=n,
        n_eff=float(min(n_eff, n)),
        lags=size,
    )


def _put(out: dict[str, Any], key: str, interval: Interval) -> None:
    out[f"{key}_ci"] = interval.ci
    out[f"{key}_se"] = interval.se


def classification_intervals(
    y_true: Any, y_pred: Any, *, horizon: int
) -> dict[str, Any]:
    """Interval keys for a classifier's entry in ``metrics.json``.

    Returns
    -------
    dict
        ``accuracy_ci`` ([low, high]), ``accuracy_se``, ``n_eff`` (of the accuracy),
        ``directional_accuracy_ci`` / ``_se``, ``balanced_accuracy_ci`` / ``_se``,
        ``interval_method`` and ``hac_lags``.
    """
    acc = accuracy_interval(y_true, y_pred, horizon=horizon)
    out: dict[str, Any] = {}
    _put(out, "accuracy", acc)
    out["n_eff"] = acc.n_eff
    _put(
        out,
        "directional_accuracy",
        directional_accuracy_interval(y_true, y_pred, horizon=horizon),
    )
    _put(
        out,
        "balanced_accuracy",
        balanced_accuracy_interval(y_true, y_pred, horizon=horizon),
    )
    out["interval_method"] = INTERVAL_METHOD
    out["hac_lags"] = acc.lags
    return out


def regression_intervals(y_true: Any, y_pred: Any, *, horizon: int) -> dict[str, Any]:
    """Interval keys for a return forecaster's entry in ``metrics.json``.

    Returns
    -------
    dict
        ``directional_accuracy_ci`` / ``_se`` (sign right, rows with a non-zero true
        return), ``n_eff`` (of that share), ``pearson_ic_ci`` / ``_se`` / ``_t`` and
        ``spearman_ic_ci`` / ``_se`` / ``_t``, ``interval_method``, ``hac_lags``.
    """
    t = np.asarray(y_true, dtype=np.float64).reshape(-1)
    p = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    if len(t) != len(p):
        raise ConfigError(
            f"`y_true` and `y_pred` must have the same length, got {len(t)} and "
            f"{len(p)}."
        )
    ok = ~(np.isnan(t) | np.isnan(p))
    t, p = t[ok], p[ok]
    if len(t) == 0:
        raise InsufficientDataError("No row has both a forecast and a true return.")
    direction = ratio_interval(
        (np.sign(p) == np.sign(t)).astype(np.float64), t != 0, horizon=horizon
    )
    out: dict[str, Any] = {}
    _put(out, "directional_accuracy", direction)
    out["n_eff"] = direction.n_eff
    for kind in ("pearson", "spearman"):
        ic = ic_interval(t, p, horizon=horizon, kind=kind)
        _put(out, f"{kind}_ic", ic)
        out[f"{kind}_ic_t"] = ic.t_stat
    out["interval_method"] = INTERVAL_METHOD
    out["hac_lags"] = hac_lags(len(t), horizon)
    return out


def with_intervals(
    metrics: Mapping[str, Any],
    task: str,
    y_true: Any,
    y_pred: Any,
    *,
    horizon: int,
) -> dict[str, Any]:
    """``metrics`` plus the interval keys of :func:`classification_intervals` or
    :func:`regression_intervals` (by ``task``), computed on ``(y_true, y_pred)``."""
    if task == "classification":
        extra = classification_intervals(y_true, y_pred, horizon=horizon)
    else:
        extra = regression_intervals(y_true, y_pred, horizon=horizon)
    return {**dict(metrics), **extra}
