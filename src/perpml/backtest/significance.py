"""Is the Sharpe ratio real? Block bootstrap, PSR, DSR and a shuffled-signal null.

* :func:`bootstrap_sharpe_interval` — circular moving-block bootstrap of per-bar
  returns (blocks at least the label horizon long, so overlapping holds stay together).
* :func:`probabilistic_sharpe_ratio` — Bailey & López de Prado (2012): the probability
  that the true Sharpe ratio exceeds a benchmark, given the sample length, skewness and
  kurtosis of the returns.
* :func:`deflated_sharpe_ratio` — Bailey & López de Prado (2014), "The Deflated Sharpe
  Ratio: Correcting for Selection Bias, Backtest Overfitting and Non-Normality",
  *Journal of Portfolio Management* 40(5), 94-107: the PSR against the Sharpe ratio
  the best of ``n_trials`` skill-less configurations would show by luck.
* :func:`block_shuffle` — the same trading rules on probabilities shuffled in blocks
  (destroys the link to future returns, keeps the signal's own autocorrelation).

All Sharpe ratios here are per bar (not annualised) unless a ``periods_per_year``
argument says otherwise; the PSR/DSR formulas need per-observation ratios.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from perpml.exceptions import ConfigError, InsufficientDataError

__all__ = [
    "EULER_MASCHERONI",
    "block_shuffle",
    "bootstrap_sharpe_interval",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "null_distribution",
    "percentile_of",
    "probabilistic_sharpe_ratio",
    "return_moments",
]

EULER_MASCHERONI = 0.5772156649015329


def return_moments(returns: np.ndarray) -> tuple[float, float, float, int]:
    """Per-bar Sharpe, skewness and (non-excess) kurtosis, and the sample size."""
    r = np.asarray(returns, dtype=np.float64)
    n = len(r)
    if n < 3:
        raise InsufficientDataError(
            f"Sharpe statistics need at least 3 returns, got {n}. Backtest a longer "
            "period."
        )
    sd = r.std(ddof=1)
    sr = float(r.mean() / sd) if sd > 0 else float("nan")
    if sd > 0:
        skew = float(sps.skew(r, bias=True))
        kurt = float(sps.kurtosis(r, fisher=False, bias=True))
    else:
        skew, kurt = 0.0, 3.0
    return sr, skew, kurt, n


def probabilistic_sharpe_ratio(
    sr: float,
    n_obs: int,
    *,
    skew: float = 0.0,
    kurtosis: float = 3.0,
    sr_benchmark: float = 0.0,
) -> float:
    """P(true Sharpe > ``sr_benchmark``) (Bailey & López de Prado, 2012).

    ``PSR = Phi((SR - SR*) sqrt(T - 1) / sqrt(1 - skew SR + (kurtosis - 1) / 4 SR^2))``
    with per-observation ``sr`` and **non-excess** ``kurtosis`` (3 for a normal).
    """
    if n_obs < 2 or not math.isfinite(sr):
        return float("nan")
    var = 1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr * sr
    if not var > 0:
        return float("nan")
    z = (sr - sr_benchmark) * math.sqrt(n_obs - 1) / math.sqrt(var)
    return float(sps.norm.cdf(z))


def expected_max_sharpe(n_trials: int, sr_variance: float) -> float:
    """Expected maximum Sharpe of ``n_trials`` skill-less trials (the DSR benchmark).

    ``SR0 = sqrt(V) ((1 - g) Phi^-1(1 - 1/N) + g Phi^-1(1 - 1/(N e)))`` with ``g`` the
    Euler-Mascheroni constant; 0 for a single trial.
    """
    if isinstance(n_trials, bool) or int(n_trials) < 1:
        raise ConfigError(f"`n_trials` must be an int >= 1, got {n_trials!r}.")
    if not sr_variance >= 0:
        raise ConfigError(f"`sr_variance` must be >= 0, got {sr_variance!r}.")
    n = int(n_trials)
    if n == 1:
        return 0.0
    g = EULER_MASCHERONI
    z = (1 - g) * sps.norm.ppf(1 - 1.0 / n) + g * sps.norm.ppf(1 - 1.0 / (n * math.e))
    return float(math.sqrt(sr_variance) * z)


def deflated_sharpe_ratio(
    sr: float,
    n_obs: int,
    *,
    n_trials: int,
    sr_variance: float,
    skew: float = 0.0,
    kurtosis: float = 3.0,
) -> float:
    """PSR against :func:`expected_max_sharpe` (Bailey & López de Prado, 2014).

    Parameters
    ----------
    sr : float
        Per-observation Sharpe ratio of the selected strategy.
    n_obs : int
        Number of returns.
    n_trials : int
        Configurations tried before choosing this one (models compared, tuning
        trials). 1 gives the PSR against zero.
    sr_variance : float
        Variance of the per-observation Sharpe ratios across the trials.
    skew, kurtosis : float
        Skewness and non-excess kurtosis of the strategy's returns.
    """
    bench = expected_max_sharpe(n_trials, sr_variance)
    return probabilistic_sharpe_ratio(
        sr, n_obs, skew=skew, kurtosis=kurtosis, sr_benchmark=bench
    )


def bootstrap_sharpe_interval(
    returns: np.ndarray,
    *,
    block: int,
    n_boot: int = 1000,
    level: float = 0.95,
    periods_per_year: float = 1.0,
    seed: int = 42,
) -> tuple[float, float]:
    """Percentile interval of the Sharpe ratio by circular moving-block bootstrap.

    Parameters
    ----------
    returns : ndarray of shape (n,)
        Per-bar returns.
    block : int
        Block length in bars (use at least the label horizon).
    n_boot : int, default 1000
    level : float, default 0.95
    periods_per_year : float, default 1.0
        Annualisation of the reported interval.
    seed : int, default 42

    Returns
    -------
    (low, high) : tuple of float
    """
    r = np.asarray(returns, dtype=np.float64)
    n = len(r)
    if n < 3:
        raise InsufficientDataError(f"The bootstrap needs >= 3 returns, got {n}.")
    if block < 1:
        raise ConfigError(f"`block` must be >= 1 bar, got {block}.")
    if not 0 < level < 1:
        raise ConfigError(f"`level` must be in (0, 1), got {level}.")
    block = min(int(block), n)
    n_blocks = -(-n // block)
    rng = np.random.default_rng(seed)
    chunk = max(1, int(4e6 // (n_blocks * block)))  # ~32 MB of indices per pass
    offsets = np.arange(block)
    sharpes: list[np.ndarray] = []
    for lo in range(0, n_boot, chunk):
        k = min(chunk, n_boot - lo)
        starts = rng.integers(0, n, size=(k, n_blocks))
        idx = ((starts[:, :, None] + offsets[None, None, :]) % n).reshape(k, -1)[:, :n]
        sample = r[idx]
        sd = sample.std(axis=1, ddof=1)
        mean = sample.mean(axis=1)
        sharpes.append(np.divide(mean, sd, out=np.full(k, np.nan), where=sd > 0))
    sr = np.concatenate(sharpes) * math.sqrt(periods_per_year)
    sr = sr[np.isfinite(sr)]
    if not len(sr):
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(sr, [tail, 100 - tail])
    return float(low), float(high)


def block_shuffle(
    frame: pd.DataFrame, block: int, rng: np.random.Generator
) -> pd.DataFrame:
    """Rows of ``frame`` permuted in contiguous blocks of ``block`` rows, same index."""
    n = len(frame)
    block = max(1, min(int(block), n))
    n_blocks = -(-n // block)
    order = rng.permutation(n_blocks)
    rows = np.concatenate(
        [np.arange(b * block, min((b + 1) * block, n)) for b in order]
    )
    out = pd.DataFrame(frame.to_numpy()[rows], index=frame.index, columns=frame.columns)
    return out


def null_distribution(
    proba: pd.DataFrame,
    sharpe_of: Callable[[pd.DataFrame], float],
    *,
    block: int,
    n_shuffles: int = 200,
    seed: int = 42,
) -> np.ndarray:
    """Sharpe ratios of the same rules on block-shuffled probabilities.

    Parameters
    ----------
    proba : DataFrame
        Out-of-sample probabilities, indexed by bar open time.
    sharpe_of : callable
        Maps a probability frame to the strategy's Sharpe ratio (positions + engine).
    block : int
        Block length in rows (at least the label horizon).
    n_shuffles : int, default 200
    seed : int, default 42

    Returns
    -------
    ndarray of shape (n_shuffles,)
    """
    if n_shuffles < 1:
        raise ConfigError(f"`n_shuffles` must be >= 1, got {n_shuffles}.")
    rng = np.random.default_rng(seed)
    return np.array(
        [sharpe_of(block_shuffle(proba, block, rng)) for _ in range(int(n_shuffles))]
    )


def percentile_of(value: float, null: Sequence[float] | np.ndarray) -> float:
    """Share (in %) of the null strictly below ``value``, ties counted half."""
    arr = np.asarray(null, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    if not len(arr) or not math.isfinite(value):
        return float("nan")
    below = float((arr < value).sum()) + 0.5 * float((arr == value).sum())
    return 100.0 * below / len(arr)
