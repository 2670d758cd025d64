"""Run configuration: one frozen dataclass tree, loaded from TOML.

A config file holds any subset of the sections below; everything left out takes the
default. Unknown sections or keys raise :class:`~perpml.exceptions.ConfigError` naming
the valid ones, so a typo never silently falls back to a default::

    [data]
    source = "synthetic"      # or "file"
    symbol = "BTCUSDT"
    days = 60
    interval = "5m"
    seed = 42                 # simulator seed
    paths = []                # files for source = "file"

    [targets]
    horizon = 12              # bars ahead
    threshold = 0.5           # x trailing sigma * sqrt(horizon) when scale = "volatility"
    scale = "volatility"      # or "fixed" (threshold is then a log return)

    [features]
    n_features = 50

    [split]
    test_fraction = 0.2

    [models]
    skip_lstm = false

The resolved config is written into every run directory (``config.toml``) so a run can
be repeated exactly with ``perpml run --config RUN_DIR/config.toml``.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, get_args

from perpml.exceptions import ConfigError

__all__ = [
    "DataConfig",
    "FeatureConfig",
    "ModelConfig",
    "ReportConfig",
    "RunConfig",
    "SplitConfig",
    "TargetConfig",
    "load_config",
    "dump_config",
]

SourceName = Literal["synthetic", "file", "archive", "binance", "postgres"]
GapHandling = Literal["raise", "flat", "drop_before"]
ScaleName = Literal["volatility", "fixed"]
LabelMethod = Literal["fixed_horizon", "triple_barrier"]
ScalerName = Literal["standard", "robust", "minmax", "none"]
SelectionMethod = Literal["tree", "permutation", "shap", "correlation"]
WindowName = Literal["expanding", "rolling"]


@dataclass(frozen=True)
class DataConfig:
    """Where market data comes from.

    ``symbol``, ``interval`` and ``days`` left unset (``None``) are resolved when the
    data is loaded: the simulator uses BTCUSDT, 5m and 60 days; files give their own
    symbol and bar spacing and all of their history. ``start`` / ``end`` are UTC dates
    or timestamps. Relative ``paths`` in a config file are resolved against the
    config file's folder; the run directory's ``config.toml`` stores absolute paths.
    """

    source: SourceName = "synthetic"
    symbol: str | None = None
    days: float | None = None
    start: str | None = None
    end: str | None = None
    interval: str | None = None
    seed: int = 42
    paths: tuple[str, ...] = ()
    funding_rate_scale: float = 1.0
    drop_last_bar: bool = True
    gaps: GapHandling = "raise"
    max_gap: int = 12


@dataclass(frozen=True)
class TargetConfig:
    """How the SHORT/NEUTRAL/LONG labels and forward returns are built."""

    horizon: int = 12
    threshold: float = 0.5
    scale: ScaleName = "volatility"
    vol_window: int = 288
    method: LabelMethod = "fixed_horizon"


@dataclass(frozen=True)
class FeatureConfig:
    """Which features are built and how many are kept."""

    n_features: int = 50
    selection: SelectionMethod = "tree"
    correlation_threshold: float = 0.95
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class SplitConfig:
    """Chronological train/validation/test split and walk-forward settings.

    ``embargo_bars`` defaults to the label horizon when negative.
    """

    val_fraction: float = 0.15
    test_fraction: float = 0.2
    embargo_bars: int = -1
    walk_forward_splits: int = 5
    window: WindowName = "expanding"


@dataclass(frozen=True)
class ModelConfig:
    """Model zoo switches shared by every model."""

    scaler: ScalerName = "standard"
    apply_scaling: bool = True
    skip_lstm: bool = False
    skip_catboost: bool = False
    skip_nn: bool = False
    random_state: int = 42
    n_jobs: int = 2
    ensemble_splits: int = 2
    # Tuned params ({model: params}) from `perpml tune`; see docs/tuning.md.
    params_file: str | None = None


@dataclass(frozen=True)
class ReportConfig:
    """What the HTML report contains."""

    enabled: bool = True
    shap_rows: int = 2000


@dataclass(frozen=True)
class RunConfig:
    """The whole run: one section per pipeline stage."""

    data: DataConfig = field(default_factory=DataConfig)
    targets: TargetConfig = field(default_factory=TargetConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    models: ModelConfig = field(default_factory=ModelConfig)
    report: ReportConfig = field(default_factory=ReportConfig)

    def with_overrides(self, section: str, **values: Any) -> RunConfig:
        """Return a copy with ``values`` replacing keys of one ``section``.

        ``None`` values are ignored, so CLI options left unset keep the file's value.
        """
        current = getattr(self, section)
        kept = {k: v for k, v in values.items() if v is not None}
        checked = _build_section(type(current), {**_as_dict(current), **kept}, section)
        return replace(self, **{section: checked})


def _as_dict(section: Any) -> dict[str, Any]:
    return {f.name: getattr(section, f.name) for f in fields(section)}


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Check one TOML value against a field annotation (given as a string)."""
    if isinstance(annotation, str) and annotation.endswith(" | None"):
        if value is None:
            return None
        annotation = annotation[: -len(" | None")]
    allowed = _LITERALS.get(annotation)
    if allowed is not None:
        if value not in allowed:
            raise ConfigError(f"{where} must be one of {list(allowed)}, got {value!r}.")
        return value
    if annotation == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}.")
        return value
    if annotation == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}.")
        return value
    if annotation == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where} must be a number, got {value!r}.")
        return float(value)
    if annotation == "str":
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}.")
        return value
    if annotation == "tuple[str, ...]":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple) or not all(
            isinstance(v, str) for v in value
        ):
            raise ConfigError(f"{where} must be a list of strings, got {value!r}.")
        return tuple(value)
    raise ConfigError(
        f"{where}: unsupported annotation {annotation!r}"
    )  # pragma: no cover


_LITERALS: dict[str, tuple[str, ...]] = {
    "SourceName": get_args(SourceName),
    "GapHandling": get_args(GapHandling),
    "ScaleName": get_args(ScaleName),
    "LabelMethod": get_args(LabelMethod),
    "ScalerName": get_args(ScalerName),
    "SelectionMethod": get_args(SelectionMethod),
    "WindowName": get_args(WindowName),
}


def _build_section(cls: type, values: dict[str, Any], section: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(
            f"Unknown key(s) {unknown} in section [{section}]. "
            f"Valid keys: {sorted(known)}."
        )
    checked = {
        name: _coerce(value, known[name].type, f"[{section}].{name}")
        for name, value in values.items()
    }
    obj = cls(**checked)
    _check_ranges(obj, section)
    return obj


def _check_ranges(obj: Any, section: str) -> None:
    """Value checks that types alone cannot express."""
    problems: list[str] = []
    if isinstance(obj, DataConfig):
        if obj.days is not None and not (0 < obj.days < float("inf")):
            problems.append(
                f"[{section}].days (--days) must be a positive, finite number of "
                f"days, got {obj.days}."
            )
        from perpml.data.schema import INTERVALS

        if obj.interval is not None and obj.interval not in INTERVALS:
            problems.append(
                f"[{section}].interval must be one of {list(INTERVALS)}, "
                f"got {obj.interval!r}."
            )
    if isinstance(obj, TargetConfig):
        if obj.horizon < 1:
            problems.append(f"[{section}].horizon must be >= 1, got {obj.horizon}.")
        if obj.threshold <= 0:
            problems.append(f"[{section}].threshold must be > 0, got {obj.threshold}.")
    if isinstance(obj, FeatureConfig) and obj.n_features < 1:
        problems.append(f"[{section}].n_features must be >= 1, got {obj.n_features}.")
    if isinstance(obj, SplitConfig):
        for name in ("val_fraction", "test_fraction"):
            value = getattr(obj, name)
            if not 0 < value < 0.5:
                problems.append(f"[{section}].{name} must be in (0, 0.5), got {value}.")
        if obj.walk_forward_splits < 0:
            problems.append(
                f"[{section}].walk_forward_splits must be >= 0 (0 = skip), "
                f"got {obj.walk_forward_splits}."
            )
    if isinstance(obj, ModelConfig) and obj.n_jobs < 1:
        problems.append(f"[{section}].n_jobs must be >= 1, got {obj.n_jobs}.")
    if problems:
        raise ConfigError(" ".join(problems))


def config_from_mapping(raw: dict[str, Any]) -> RunConfig:
    """Build a :class:`RunConfig` from a parsed TOML mapping, checking every key."""
    sections = {f.name: f for f in fields(RunConfig)}
    unknown = sorted(set(raw) - set(sections))
    if unknown:
        raise ConfigError(
            f"Unknown section(s) {unknown}. Valid sections: {sorted(sections)}."
        )
    built: dict[str, Any] = {}
    for name in sections:
        values = raw.get(name, {})
        if not isinstance(values, dict):
            raise ConfigError(f"[{name}] must be a table, got {values!r}.")
        section_cls = type(getattr(RunConfig(), name))
        built[name] = _build_section(section_cls, values, name)
    return RunConfig(**built)


def load_config(path: str | Path | None = None) -> RunConfig:
    """Load a run config from a TOML file; ``None`` gives the defaults.

    Raises
    ------
    ConfigError
        If the file is missing, is not valid TOML, or holds unknown keys / bad values.
    """
    if path is None:
        return RunConfig()
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"Config file {str(path)!r} does not exist. Pass an existing TOML file "
            "or omit --config to use the defaults."
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"Config file {str(path)!r} is not valid TOML: {exc}"
        ) from None
    return config_from_mapping(raw)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise ConfigError(f"Cannot write {value!r} to TOML.")  # pragma: no cover


def dump_config(config: RunConfig) -> str:
    """Return the TOML text of a config; ``load_config`` of it gives it back."""
    lines: list[str] = []
    for section in fields(config):
        lines.append(f"[{section.name}]")
        for key, value in dataclasses.asdict(getattr(config, section.name)).items():
            if value is None:  # TOML has no null: an unset key stays unset
                continue
            lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)
