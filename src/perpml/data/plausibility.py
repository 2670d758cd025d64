"""What market values are believable: errors for the impossible, warnings otherwise.

Errors (contract violations, see :mod:`perpml.data.contract`):

* ``implausible_funding``: ``|funding_rate|`` above :data:`FUNDING_RATE_CEILING`
  (0.03 = 3 % per settlement, Binance's highest cap on any USDⓈ-M perpetual; most
  symbols are capped lower);
* ``price_jump``: ``|log(close / previous close)|`` above :data:`MAX_BAR_LOG_RETURN`
  (1, i.e. a move beyond x2.72 or /2.72 within one bar).

Warnings (:func:`plausibility_warnings`, possible but suspicious):

* a column that is zero on every bar where it is known (``volume``, open interest,
  ratios, funding): a broken export; every feature computed from it is constant
  (see :func:`perpml.data.quality.constant_columns`);
* prices that never change;
* a median ``|funding_rate|`` above :data:`FUNDING_PERCENT_HINT` (0.1 % per
  settlement, ten times the usual 0.01 %): likely a file that stores percent.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from perpml.data.contract import Violation
from perpml.data.schema import PRICE_COLUMNS

__all__ = [
    "FUNDING_PERCENT_HINT",
    "FUNDING_RATE_CEILING",
    "MAX_BAR_LOG_RETURN",
    "implausible_values",
    "plausibility_warnings",
]

#: Largest believable ``|funding_rate|`` per settlement: Binance's highest cap (3 %).
FUNDING_RATE_CEILING = 0.03

#: Largest believable ``|log(close_t / close_{t-1})|`` of one bar.
MAX_BAR_LOG_RETURN = 1.0

#: Median ``|funding_rate|`` above which the file probably stores percent.
FUNDING_PERCENT_HINT = 0.001


def implausible_values(frame: pd.DataFrame, numeric: Sequence[str]) -> list[Violation]:
    """Contract violations for values no market produces (module docstring limits).

    Parameters
    ----------
    frame : DataFrame of shape (n_bars, n_columns), indexed by bar open time, UTC
        Sorted by time.
    numeric : sequence of str
        The numeric canonical columns of ``frame`` to look at.
    """
    out: list[Violation] = []
    if "funding_rate" in numeric:
        rate = frame["funding_rate"].to_numpy(dtype="float64")
        bad = np.abs(rate) > FUNDING_RATE_CEILING + 1e-12
        if bad.any():
            worst = float(rate[bad][np.argmax(np.abs(rate[bad]))])
            out.append(
                Violation(
                    "implausible_funding",
                    "funding_rate",
                    int(bad.sum()),
                    tuple(frame.index[bad][:5]),
                    "Funding rates are fractions per settlement (0.0001 = 0.01 %). If "
                    "the file stores percent, pass --funding-rate-scale 0.01 (config "
                    "key [data] funding_rate_scale); otherwise remove the corrupt rows.",
                    f"|funding_rate| must be at most {FUNDING_RATE_CEILING} (3 % per "
                    f"settlement, Binance's highest cap); got {worst!r}",
                )
            )
    if "close" in numeric and len(frame) > 1:
        close = frame["close"].to_numpy(dtype="float64")
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.abs(np.diff(np.log(close)))
        bad_pos = np.flatnonzero(step > MAX_BAR_LOG_RETURN) + 1
        if bad_pos.size:
            row = int(bad_pos[0])
            out.append(
                Violation(
                    "price_jump",
                    "close",
                    int(bad_pos.size),
                    tuple(frame.index[bad_pos][:5]),
                    "Check those rows of the source (a misplaced decimal point, a "
                    "row of another symbol, prices in other units); remove or fix "
                    "them.",
                    f"|log(close / previous close)| must be at most "
                    f"{MAX_BAR_LOG_RETURN:g} per bar; got a move from "
                    f"{close[row - 1]:g} to {close[row]:g}",
                )
            )
    return out


def plausibility_warnings(frame: pd.DataFrame) -> list[str]:
    """Sentences describing suspicious (possible, but unlikely) values of ``frame``.

    See the module docstring for the rules. An empty list means nothing looked odd.
    """
    warnings: list[str] = []
    from perpml.data.quality import constant_columns

    constant = constant_columns(frame)
    for col, value in constant.items():
        if col in PRICE_COLUMNS:
            if col == "close":
                warnings.append(
                    f"close is {value:g} on every bar: prices that never change are "
                    "not market data (a placeholder export?)."
                )
            continue
        if value == 0:
            warnings.append(
                f"{col} is zero on every bar where it is known: check the export; "
                f"features computed from {col} carry no information."
            )
    if "funding_rate" in frame.columns:
        rate = pd.to_numeric(frame["funding_rate"], errors="coerce").dropna()
        median = float(np.median(np.abs(rate))) if len(rate) else 0.0
        if median > FUNDING_PERCENT_HINT:
            warnings.append(
                f"median |funding_rate| is {median:g} per settlement, over "
                f"{FUNDING_PERCENT_HINT:g} (the usual level is 0.0001 = 0.01 %): if "
                "the file stores percent, pass --funding-rate-scale 0.01 (config key "
                "[data] funding_rate_scale)."
            )
    return warnings
