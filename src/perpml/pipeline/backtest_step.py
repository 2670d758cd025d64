"""The run's backtest step: the chosen model's out-of-sample probabilities, net of costs.

Out of sample means never in-sample: the walk-forward folds' out-of-fold
probabilities before the test period (the chosen model's own when the walk-forward
zoo trains it, else the walk-forward ensemble's), then the chosen model's test-period
probabilities (trained on the training split only). The model is the verdict's,
chosen on the validation period, so the test period is not used to pick what trades.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from perpml.config import RunConfig

__all__ = ["out_of_sample_probabilities", "run_backtest_step"]

_PROBA = ["p_short", "p_neutral", "p_long"]


def out_of_sample_probabilities(
    chosen: str,
    results: dict[str, Any],
    walk: Any,
    test_start: pd.Timestamp,
) -> tuple[pd.DataFrame, str]:
    """Stack walk-forward OOF rows (before ``test_start``) and the test rows.

    Returns the probabilities (columns p_short, p_neutral, p_long, indexed by bar
    open time) and a sentence saying where each part came from.
    """
    test = results[chosen].predictions[_PROBA]
    parts = [test]
    origin = f"test period: {chosen} ({len(test)} rows)"
    probabilities = getattr(walk, "probabilities", None) or {}
    walk_name = chosen if chosen in probabilities else "ensemble_classifier"
    if walk_name in probabilities:
        before = probabilities[walk_name]
        before = before.loc[before.index < test_start, _PROBA]
        if len(before):
            parts.insert(0, before)
            origin = (
                f"walk-forward out-of-fold: {walk_name} ({len(before)} rows); " + origin
            )
    frame = pd.concat(parts)
    frame = frame[~frame.index.duplicated(keep="last")].sort_index()
    return frame, origin


def run_backtest_step(
    config: RunConfig,
    market: pd.DataFrame,
    *,
    chosen: str,
    results: dict[str, Any],
    walk: Any,
    test_start: pd.Timestamp,
    threshold: pd.Series,
    horizon: int,
    n_trials: int,
    run_dir: Path,
) -> Any:
    """Backtest the chosen model and write ``backtest.json`` & co. into ``run_dir``.

    Returns the :class:`perpml.backtest.summary.BacktestSummary`.
    """
    from perpml.backtest import backtest_run, simulator_oracle_proba

    proba, origin = out_of_sample_probabilities(chosen, results, walk, test_start)
    oracle = simulator_oracle_proba(
        market, pd.DatetimeIndex(proba.index), horizon=horizon, threshold=threshold
    )
    summary = backtest_run(
        market,
        proba,
        horizon=horizon,
        n_trials=max(1, n_trials),
        oracle_proba=oracle,
        config=config.backtest,
        out_dir=run_dir,
    )
    from perpml.rundir.io import read_json, write_json_atomic

    path = run_dir / "backtest.json"
    payload = read_json(path)
    payload["model"] = chosen
    payload["probabilities_from"] = origin
    payload["n_trials"] = max(1, n_trials)
    write_json_atomic(path, payload)
    return summary
