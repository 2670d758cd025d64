"""How much cost can the strategy bear? Fee sensitivity and the break-even fee.

The positions are held fixed (the strategy as chosen at the configured costs) and only
the fee per side is varied; slippage and funding stay as configured. Net return falls
monotonically with the fee, so the break-even fee — the fee per side at which the net
total return is zero — is found by bisection.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from perpml.backtest.engine import BacktestResult

__all__ = ["break_even_fee", "cost_sensitivity"]

#: Fee levels as multiples of the taker fee (0 to 2x).
DEFAULT_MULTIPLES: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)


def cost_sensitivity(
    run: Callable[[float], BacktestResult],
    fee_rate: float,
    *,
    multiples: Sequence[float] = DEFAULT_MULTIPLES,
) -> pd.DataFrame:
    """Net return and Sharpe at fee levels ``multiples * fee_rate``.

    Parameters
    ----------
    run : callable
        ``run(fee) -> BacktestResult`` with everything else fixed (positions,
        slippage, funding).
    fee_rate : float
        The taker fee per side the multiples refer to.
    multiples : sequence of float, default 0 to 2 in steps of 0.25

    Returns
    -------
    DataFrame with columns ``fee_multiple``, ``fee_rate``, ``total_return``,
    ``annual_return``, ``sharpe``, ``fees_paid``.
    """
    rows = []
    for k in multiples:
        fee = float(k) * float(fee_rate)
        stats = run(fee).stats
        rows.append(
            {
                "fee_multiple": float(k),
                "fee_rate": fee,
                "total_return": stats["total_return"],
                "annual_return": stats["annual_return"],
                "sharpe": stats["sharpe"],
                "fees_paid": stats["fees_paid"],
            }
        )
    return pd.DataFrame(rows)


def break_even_fee(
    run: Callable[[float], BacktestResult],
    *,
    max_fee: float = 0.01,
    tol: float = 1e-7,
) -> float | None:
    """Fee per side at which the net total return is zero.

    Returns
    -------
    float or None
        ``None`` when the strategy loses even at zero fee; ``max_fee`` when it still
        earns at ``max_fee`` (1 % per side by default).
    """

    def total(fee: float) -> float:
        return float(run(fee).stats["total_return"])

    if not total(0.0) > 0:
        return None
    if total(max_fee) > 0:
        return float(max_fee)
    lo, hi = 0.0, float(max_fee)
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        if total(mid) > 0:
            lo = mid
        else:
            hi = mid
    return float(np.round(0.5 * (lo + hi), 10))
