"""The rows ``perpml tune`` tunes on: a run's training and validation periods.

Either built from data options exactly as ``perpml run`` builds them
(:func:`perpml.pipeline.prepare.prepare_splits`), or read from the prepared datasets
an earlier run exported (``RUN_DIR/data/<feature_set_id>/``), which is how workers on
several machines share one copy of the data. The test period is kept only for its
start time (a leakage guard); it is never handed to the objective.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from perpml.config import RunConfig
from perpml.exceptions import ConfigError

__all__ = ["TuningData", "tuning_data_from_config", "tuning_data_from_run"]


@dataclass(frozen=True)
class TuningData:
    """Training and validation periods (unscaled) plus what the tuner needs to purge.

    Attributes
    ----------
    X_train, X_val : DataFrame
    y_train, y_val : DataFrame
        Every target column (``target_class``, ``target_return``, ``label_end``...).
    horizon : int
    embargo : Timedelta
    test_start : Timestamp
    scaler : str
        The run's ``[models] scaler``.
    source : str
        Where the rows came from (printed).
    """

    X_train: pd.DataFrame
    y_train: pd.DataFrame
    X_val: pd.DataFrame
    y_val: pd.DataFrame
    horizon: int
    embargo: pd.Timedelta
    test_start: pd.Timestamp
    scaler: str
    source: str

    @property
    def label_end(self) -> pd.Series:
        """``label_end`` of the training + validation rows."""
        return pd.concat([self.y_train["label_end"], self.y_val["label_end"]])


def tuning_data_from_config(config: RunConfig) -> TuningData:
    """Build the run's splits from its data options (as ``perpml run`` does)."""
    from perpml.pipeline.prepare import prepare_splits

    prepared = prepare_splits(config)
    (Xtr, ytr), (Xva, yva), (Xte, _) = (
        prepared.parts["train"],
        prepared.parts["val"],
        prepared.parts["test"],
    )
    data = prepared.config.data
    return TuningData(
        X_train=Xtr,
        y_train=ytr,
        X_val=Xva,
        y_val=yva,
        horizon=prepared.horizon,
        embargo=prepared.embargo,
        test_start=Xte.index[0],
        scaler=prepared.config.models.scaler,
        source=f"{data.symbol} {data.interval} from {data.source}",
    )


def tuning_data_from_run(run_dir: str | Path) -> TuningData:
    """Read the prepared datasets of an earlier ``perpml run`` (``--datasets``).

    Raises
    ------
    ConfigError
        Not a run directory, or it holds no (or several) prepared datasets.
    """
    from perpml.pipeline.artifacts import load_prepared_datasets

    root = Path(run_dir)
    data_root = root / "data"
    found = (
        sorted(p.parent.name for p in data_root.glob("*/manifest.json"))
        if data_root.is_dir()
        else []
    )
    if len(found) != 1:
        what = "no prepared dataset" if not found else f"several datasets {found}"
        raise ConfigError(
            f"--datasets {str(root)!r}: {what} under {str(data_root)!r}. Pass the "
            "directory of one `perpml run` (it writes RUN_DIR/data/<id>/)."
        )
    X_train, _, X_val, _, X_test, _, meta = load_prepared_datasets(
        found[0], root=data_root
    )
    horizon, embargo, scaler = 12, None, "standard"
    run_json = root / "run.json"
    if run_json.exists():
        info = json.loads(run_json.read_text(encoding="utf-8"))
        horizon = int(info.get("horizon", horizon))
        embargo = pd.Timedelta(info["embargo"]) if "embargo" in info else None
    config_text = meta.manifest.get("config") or ""
    if config_text:
        cfg = tomllib.loads(config_text)
        scaler = cfg.get("models", {}).get("scaler", scaler)
        horizon = int(cfg.get("targets", {}).get("horizon", horizon))
    targets = meta.targets
    if embargo is None:
        step = pd.Series(X_test.index[1:] - X_test.index[:-1]).mode().iloc[0]
        embargo = step * horizon
    return TuningData(
        X_train=X_train,
        y_train=targets["train"],
        X_val=X_val,
        y_val=targets["val"],
        horizon=horizon,
        embargo=embargo,
        test_start=X_test.index[0],
        scaler=scaler,
        source=f"prepared datasets of {root}",
    )
