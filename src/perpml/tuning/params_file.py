"""The tuned-parameters file ``perpml tune`` writes and ``perpml run --params`` reads.

JSON written by ``perpml tune`` (one entry per model; tuning another model into the
same file adds or replaces only that entry)::

    {
      "format": "perpml-tuned-params/1",
      "models": {
        "xgb_classifier": {
          "params": {"max_depth": 4, "learning_rate": 0.07, ...},
          "best_score": 0.4213,
          "n_trials": 100,          # scored trials (complete + pruned), all workers
          "n_complete": 71, "n_pruned": 29, "n_failed": 0,
          "score": "combined", "cv": "walk_forward", "study_name": "...",
          "storage": "postgresql+psycopg://perpml:***@db/optuna"
        }
      }
    }

A hand-written file may be the plain ``{model_name: params}`` mapping, in JSON or in
TOML (``[xgb_classifier]`` then ``max_depth = 4``). Model names are the pipeline's
(``xgb_classifier``, ``lgb_classifier``, ``cat_classifier``, ``xgb_regressor``,
``nn_regressor``, ``lstm``) or the aliases of :func:`perpml.tuning.spaces.get_spec`.

``perpml run --params FILE`` copies the file into the run directory
(``tuned_params.json``) and records ``n_tuning_trials`` (``{model: n_trials}``) in
``run.json`` — the number of configurations tried, which the Deflated Sharpe Ratio
of a backtest must count.
"""

from __future__ import annotations

import json
import os
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perpml.exceptions import ConfigError, ModelParamsError

__all__ = [
    "FORMAT",
    "TunedParams",
    "read_params_file",
    "record_tuned_params",
    "write_params_file",
]

FORMAT = "perpml-tuned-params/1"
_EXTRA_MODELS = {"lstm": "LSTMForecaster"}


@dataclass(frozen=True)
class TunedParams:
    """Parameters per model and the trial counts behind them.

    Attributes
    ----------
    params : dict of str to dict
        ``{pipeline_model_name: params}``.
    n_trials : dict of str to int
        Scored trials per model (empty for hand-written files).
    path : Path
    """

    params: dict[str, dict[str, Any]]
    n_trials: dict[str, int] = field(default_factory=dict)
    path: Path | None = None


def _canonical(name: str, where: str) -> tuple[str, str]:
    from perpml.tuning.spaces import get_spec

    if name in _EXTRA_MODELS:
        return name, _EXTRA_MODELS[name]
    try:
        spec = get_spec(name)
    except ConfigError:
        raise ConfigError(
            f"{where}: unknown model {name!r}. Valid: xgb_classifier, lgb_classifier, "
            "cat_classifier, xgb_regressor, nn_regressor, lstm. Fix the file given "
            "to --params."
        ) from None
    return spec.name, spec.class_name


def _check_params(class_name: str, params: Any, where: str) -> dict[str, Any]:
    from perpml import models
    from perpml.models._validation import resolve_params

    if not isinstance(params, Mapping):
        raise ConfigError(
            f"{where}: params must be a table/object of parameter values, got "
            f"{type(params).__name__}. Fix the file given to --params."
        )
    cls = getattr(models, class_name)
    try:
        # The model class owns the contract: unknown keys raise listing valid ones.
        resolve_params(class_name, dict(params), cls.default_params, 42, 1)
    except ModelParamsError as exc:
        raise ConfigError(f"{where}: {exc} Fix the file given to --params.") from None
    return dict(params)


def read_params_file(path: str | Path) -> TunedParams:
    """Read and check a tuned-parameters file (JSON or TOML).

    Raises
    ------
    ConfigError
        Missing/unreadable file, unknown model names or parameter keys.
    """
    file = Path(path)
    where = f"--params {str(file)!r}"
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"{where}: cannot read the file ({exc.strerror or exc}). Pass the file "
            "`perpml tune` wrote (e.g. RUN_DIR/tuned_params.json)."
        ) from None
    try:
        raw = (
            tomllib.loads(text) if file.suffix.lower() == ".toml" else json.loads(text)
        )
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{where}: not valid JSON/TOML ({exc}).") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected an object of models at the top level.")
    counts: dict[str, int] = {}
    if "models" in raw and isinstance(raw.get("models"), dict):
        entries = {}
        for name, entry in raw["models"].items():
            if not isinstance(entry, dict) or "params" not in entry:
                raise ConfigError(
                    f"{where}: models.{name} needs a 'params' object. Re-run "
                    "`perpml tune` to rewrite the file."
                )
            entries[name] = entry["params"]
            if "n_trials" in entry:
                counts[name] = int(entry["n_trials"])
    else:
        entries = raw
    params: dict[str, dict[str, Any]] = {}
    n_trials: dict[str, int] = {}
    for name, values in entries.items():
        key, class_name = _canonical(str(name), where)
        params[key] = _check_params(class_name, values, f"{where}, model {key}")
        if name in counts:
            n_trials[key] = counts[name]
    return TunedParams(params=params, n_trials=n_trials, path=file)


def write_params_file(
    path: str | Path, entries: Mapping[str, Mapping[str, Any]]
) -> Path:
    """Add or replace model entries in a tuned-parameters file (atomic write).

    ``entries`` is ``{model_name: {"params": ..., "n_trials": ..., ...}}``; other
    models already in the file are kept.
    """
    file = Path(path)
    existing: dict[str, Any] = {}
    if file.exists():
        try:
            loaded = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            loaded = None
        if isinstance(loaded, dict) and loaded.get("format") == FORMAT:
            existing = dict(loaded.get("models", {}))
        else:
            raise ConfigError(
                f"{str(file)!r} exists and is not a perpml tuned-params file; pass "
                "another --out."
            )
    existing.update({name: dict(entry) for name, entry in entries.items()})
    payload = {"format": FORMAT, "models": existing}
    file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{file.name}-", dir=file.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(payload, indent=2, default=str))
    os.replace(tmp, file)
    return file


def record_tuned_params(
    params_file: str | Path | None, run_dir: Path
) -> dict[str, Any]:
    """Copy a run's params file into ``run_dir`` and return its ``run.json`` entries.

    Returns ``{}`` without a params file, else ``{"tuned_params_file":
    "tuned_params.json", "n_tuning_trials": {model: n_trials}}`` — the trial counts
    the backtest's Deflated Sharpe Ratio reads (empty for a hand-written file).
    """
    if not params_file:
        return {}
    tuned = read_params_file(params_file)
    target = Path(run_dir) / "tuned_params.json"
    payload = {
        "format": FORMAT,
        "models": {
            name: {
                "params": params,
                **(
                    {"n_trials": tuned.n_trials[name]} if name in tuned.n_trials else {}
                ),
            }
            for name, params in tuned.params.items()
        },
        "source": str(params_file),
    }
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}-", dir=target.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(payload, indent=2, default=str))
    os.replace(tmp, target)
    return {"tuned_params_file": target.name, "n_tuning_trials": dict(tuned.n_trials)}
