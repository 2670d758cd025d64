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
    signal_strength = 1.0     # simulator: planted signal multiplier, 0 = pure noise
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

    [store]
    enabled = true            # offline feature store (docs/store.md); --no-store
    dir = ""                  # "" = $PERPML_STORE_DIR or the user cache dir + /store

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
    "AuditConfig",
    "BacktestConfig",
    "DataConfig",
    "DatabaseConfig",
    "FeatureConfig",
    "ModelConfig",
    "ReportConfig",
    "RunConfig",
    "SplitConfig",
    "StoreConfig",
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
    ``signal_strength`` (simulator only) multiplies the planted relation: 1.0 the
    default signal, 0 pure noise (the oracle is then a constant prediction).
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
    signal_strength: float = 1.0


@dataclass(frozen=True)
class DatabaseConfig:
    """The PostgreSQL market database (``source = "postgres"``, ``perpml db``).

    ``url`` (``postgresql://user@host:port/name``) wins over the parts; unset, the
    URL comes from ``PERPML_DB_URL`` or from host / port / name / user / password.
    The password is never written into a run directory: keep it in the URL given
    on the command line, ``PGPASSWORD`` or ``~/.pgpass``. Table and column names
    default to the seed's Phase 1 schema (docs/database.md).
    """

    url: str | None = None
    host: str = "localhost"
    port: int = 5432
    name: str = "trading_db"
    user: str = "postgres"
    password: str | None = None
    ohlcv_table: str = "ohlcv"
    open_interest_table: str = "open_interest"
    funding_rate_table: str = "funding_rate"
    liquidations_table: str = "liquidations"
    long_short_ratio_table: str = "long_short_ratio"
    timestamp_column: str = "timestamp"
    symbol_column: str = "symbol"
    open_interest_column: str = "open_interest"
    funding_rate_column: str = "funding_rate"
    long_short_ratio_column: str = "long_short_ratio"
    liquidation_quantity_column: str = "quantity"
    liquidation_side_column: str = "side"
    liquidation_id_column: str = "order_id"
    long_liquidation_side: str = "SELL"


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
class AuditConfig:
    """The leakage audit at the end of ``perpml run`` (``--no-audit`` turns it off)."""

    enabled: bool = True


@dataclass(frozen=True)
class BacktestConfig:
    """How out-of-sample predictions are turned into a cost-aware backtest.

    Fees are per side on traded notional (Binance USD-M VIP0: taker 0.05 %, maker
    0.02 %); ``slippage_bps`` moves every fill against the trade. ``entry_threshold``
    is the multiple of the round-trip cost the expected edge must exceed to enter.
    ``funding_interval_hours`` is the settlement schedule (00/08/16 UTC for 8). See
    ``docs/backtest.md``.
    """

    enabled: bool = True
    fee_rate: float = 0.0005
    maker_fee: float = 0.0002
    use_maker_fee: bool = False
    slippage_bps: float = 1.0
    funding: bool = True
    allow_missing_funding: bool = False
    funding_interval_hours: int = 8
    max_leverage: float = 1.0
    entry_threshold: float = 1.0
    vol_sizing: bool = False
    vol_window: int = 288
    n_shuffles: int = 200
    n_bootstrap: int = 1000
    seed: int = 42

    def __post_init__(self) -> None:
        problems = [
            f"[backtest].{name} must be >= 0, got {getattr(self, name)}."
            for name in ("fee_rate", "maker_fee", "slippage_bps", "entry_threshold")
            if not getattr(self, name) >= 0
        ]
        if not 0 < self.max_leverage <= 100:
            problems.append(
                f"[backtest].max_leverage must be in (0, 100], got {self.max_leverage}."
            )
        if self.funding_interval_hours not in (1, 2, 4, 8):
            problems.append(
                "[backtest].funding_interval_hours must be 1, 2, 4 or 8, got "
                f"{self.funding_interval_hours}."
            )
        if self.n_shuffles < 200:
            problems.append(
                f"[backtest].n_shuffles must be >= 200 (a null distribution needs them), "
                f"got {self.n_shuffles}."
            )
        if self.n_bootstrap < 100:
            problems.append(
                f"[backtest].n_bootstrap must be >= 100, got {self.n_bootstrap}."
            )
        if self.vol_window < 2:
            problems.append(
                f"[backtest].vol_window must be >= 2, got {self.vol_window}."
            )
        if problems:
            raise ConfigError(" ".join(problems))

    @property
    def applied_fee(self) -> float:
        """Fee rate per side actually charged (maker when ``use_maker_fee``)."""
        return self.maker_fee if self.use_maker_fee else self.fee_rate


@dataclass(frozen=True)
class StoreConfig:
    """The offline feature store ``perpml run`` reads and writes (docs/store.md).

    ``dir = ""``: ``$PERPML_STORE_DIR``, else the user cache dir + ``/store``.
    """

    enabled: bool = True
    dir: str = ""


@dataclass(frozen=True)
class RunConfig:
    """The whole run: one section per pipeline stage."""

    data: DataConfig = field(default_factory=DataConfig)
    targets: TargetConfig = field(default_factory=TargetConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    models: ModelConfig = field(default_factory=ModelConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)
    backtest: BacktestConfig = field(default_factory=BacktestConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    store: StoreConfig = field(default_factory=StoreConfig)

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
        if not (0 <= obj.signal_strength < float("inf")):
            problems.append(
                f"[{section}].signal_strength (--signal-strength) must be a finite "
                f"number >= 0 (1.0 default signal, 0 pure noise), got "
                f"{obj.signal_strength}."
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
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"Config file {str(path)!r} is not UTF-8 text (byte "
            f"{exc.object[exc.start : exc.start + 1]!r} at position {exc.start}): TOML "
            "files must be UTF-8. Save it as UTF-8, or pass another --config."
        ) from None
    except IsADirectoryError:
        raise ConfigError(
            f"Config file {str(path)!r} is a directory. Pass a TOML file to --config."
        ) from None
    config = config_from_mapping(raw)
    return _resolve_paths(config, path.parent)


def _resolve_paths(config: RunConfig, base: Path) -> RunConfig:
    """Make relative ``[data] paths`` absolute, relative to the config file's folder.

    So ``perpml run --config RUN_DIR/config.toml`` works from any directory; the run
    directory's own ``config.toml`` already stores absolute paths.
    """
    paths = config.data.paths
    if not paths or all(Path(p).expanduser().is_absolute() for p in paths):
        return config
    resolved = tuple(
        str(Path(p).expanduser())
        if Path(p).expanduser().is_absolute()
        else str((base / p).resolve())
        for p in paths
    )
    return config.with_overrides("data", paths=resolved)


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


def _without_password(url: str) -> str:
    """``url`` with the password of its user part removed."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return url
    return f"{scheme}://{userinfo.split(':', 1)[0]}@{host}"


def dump_config(config: RunConfig) -> str:
    """Return the TOML text of a config; ``load_config`` of it gives it back."""
    lines: list[str] = []
    for section in fields(config):
        lines.append(f"[{section.name}]")
        for key, value in dataclasses.asdict(getattr(config, section.name)).items():
            if value is None:  # TOML has no null: an unset key stays unset
                continue
            if section.name == "database" and key in ("password", "url"):
                # secrets never reach a run directory (PGPASSWORD / ~/.pgpass)
                if key == "password":
                    continue
                value = _without_password(value)
            lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)
