"""A plain per-bar Python loop with the engine's conventions (the obvious way a user
would write it). Used to cross-check the vectorised engine and as the benchmark's
baseline."""

from __future__ import annotations

import numpy as np


def reference_equity(
    open_: np.ndarray,
    close: np.ndarray,
    mark: np.ndarray,
    funding_per_bar: np.ndarray,
    target: np.ndarray,
    *,
    fee: float,
    slip: float,
) -> np.ndarray:
    """Equity at each close; ``funding_per_bar`` = rate * settlements in the bar."""
    n = len(open_)
    equity = np.empty(n)
    equity[0] = 1.0
    cash, units, held = 1.0, 0.0, 0.0
    for t in range(1, n):
        w = target[t - 1]
        if w != held:
            equity_open = cash + units * open_[t]
            new_units = w * equity_open / open_[t]
            d = new_units - units
            price = open_[t] * (1.0 + slip * np.sign(d))
            cash -= d * price + fee * abs(d) * price
            units, held = new_units, w
        if funding_per_bar[t]:
            cash -= units * mark[t] * funding_per_bar[t]
        equity[t] = cash + units * close[t]
    return equity
