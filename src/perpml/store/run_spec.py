"""What serving needs to know about a run directory written by ``perpml run``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perpml.config import RunConfig, load_config
from perpml.exceptions import ArtifactError

__all__ = ["DEFAULT_WINDOW_ROWS", "ServingRun"]

#: Rows of the online rolling window when the run has no LSTM (its default lookback).
DEFAULT_WINDOW_ROWS = 50


@dataclass(frozen=True)
class ServingRun:
    """The feature set a run's models read, and where its models are.

    Attributes
    ----------
    run_dir : Path
    symbol, interval : str
        Market the run was trained on.
    feature_set_id : str
        The run's feature-set id (``run.json``); part of the online key.
    features : list of str
        The model's feature columns, in order.
    window_rows : int
        Rows of the online rolling window: the LSTM's lookback, or
        :data:`DEFAULT_WINDOW_ROWS` without an LSTM.
    config : RunConfig
        The run's resolved config (its data options are reused by file sources).
    """

    run_dir: Path
    symbol: str
    interval: str
    feature_set_id: str
    features: list[str]
    window_rows: int
    config: RunConfig

    @classmethod
    def from_run_dir(cls, run_dir: str | Path) -> ServingRun:
        """Read ``run.json`` and ``config.toml`` of a run directory.

        Raises
        ------
        ArtifactError
            Not a finished run directory (no readable run.json with the keys).
        """
        directory = Path(run_dir)
        path = directory / "run.json"
        try:
            info: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            symbol = str(info["symbol"])
            interval = str(info["interval"])
            fs_id = str(info["feature_set_id"])
            features = [str(f) for f in info["features"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ArtifactError(
                f"--run {str(directory)!r} is not a finished perpml run directory "
                f"(cannot read symbol/interval/feature_set_id/features from {path}: "
                f"{exc}). Pass a directory written by `perpml run`."
            ) from None
        config_path = directory / "config.toml"
        config = load_config(config_path) if config_path.exists() else RunConfig()
        return cls(
            run_dir=directory,
            symbol=symbol,
            interval=interval,
            feature_set_id=fs_id,
            features=features,
            window_rows=_lstm_lookback(directory),
            config=config,
        )


def _lstm_lookback(run_dir: Path) -> int:
    sidecar = run_dir / "models" / "lstm" / "model.json"
    if not sidecar.is_file():
        return DEFAULT_WINDOW_ROWS
    try:
        payload = json.loads(sidecar.read_text(encoding="utf-8"))
        return int(payload["resolved_params"]["lookback"])
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_WINDOW_ROWS
