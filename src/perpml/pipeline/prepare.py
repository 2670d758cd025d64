"""Phases 1-2 of ``perpml run`` without the models: data → features → purged splits.

:func:`prepare_splits` loads the market, builds features and targets, splits them
chronologically with the run's embargo and selects features on the training split —
the same steps, in the same order, with the same functions as
:func:`perpml.pipeline.run.run_pipeline` — so a tool that needs the run's splits
(``perpml tune``) sees exactly the rows the run would train on.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from perpml.config import RunConfig

__all__ = ["PreparedSplits", "prepare_splits"]


@dataclass(frozen=True)
class PreparedSplits:
    """The train / validation / test periods of a run, before scaling.

    Attributes
    ----------
    parts : dict
        ``{"train"|"val"|"test": (X, targets)}``; X holds the selected features,
        targets every target column (``target_class``, ``target_return``,
        ``label_end``...).
    config : RunConfig
        The config with its data section resolved.
    horizon : int
    embargo : Timedelta
    """

    parts: dict[str, tuple[pd.DataFrame, pd.DataFrame]]
    config: RunConfig
    horizon: int
    embargo: pd.Timedelta


def prepare_splits(config: RunConfig) -> PreparedSplits:
    """Load, build features/targets, split and select as ``perpml run`` does."""
    from perpml.data.schema import interval_to_timedelta
    from perpml.features import build_features
    from perpml.features.targets import make_targets
    from perpml.pipeline.run import _load_market, _select, _usable_rows, split_rows

    tcfg = config.targets
    horizon = tcfg.horizon
    embargo_bars = (
        config.split.embargo_bars if config.split.embargo_bars >= 0 else horizon
    )
    market, config = _load_market(config)
    embargo = interval_to_timedelta(market.attrs["interval"]) * embargo_bars
    features = build_features(
        market, categories=list(config.features.categories) or None
    )
    targets = make_targets(
        market,
        horizon=horizon,
        threshold=tcfg.threshold,
        scale=tcfg.scale,
        vol_window=tcfg.vol_window,
        method=tcfg.method,
    )
    X_all, y_all, _ = _usable_rows(
        features,
        targets,
        decide_on=1 - config.split.val_fraction - config.split.test_fraction,
    )
    _, parts = split_rows(config, X_all, y_all, embargo, {})
    selected = _select(config, parts["train"], embargo)
    parts = {name: (X[selected], y) for name, (X, y) in parts.items()}
    return PreparedSplits(parts=parts, config=config, horizon=horizon, embargo=embargo)
