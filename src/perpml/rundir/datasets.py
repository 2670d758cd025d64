"""Prepared-dataset artifacts: export once, train many times.

A prepared dataset is the train/validation/test split of one feature set, already
cleaned of warm-up and unlabelled rows and reduced to the selected features. It lives
in ``<root>/<feature_set_id>/``::

    manifest.json          feature_set_id, features, split boundaries, data fingerprint,
                           library versions, sha256 of every file
    X_train.parquet  y_train.parquet   (y = every target column: target_class,
    X_val.parquet    y_val.parquet      target_return, threshold, label_end, ...)
    X_test.parquet   y_test.parquet

:func:`load_prepared_datasets` returns the seed's 7-tuple
``(X_train, y_train, X_val, y_val, X_test, y_test, meta)`` where ``y_*`` is the class
target (``target_class`` as int) and ``meta`` a :class:`PreparedDatasetMeta` that also
holds the full target frames (``meta.targets["train"]["target_return"]`` for regression).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from perpml.exceptions import ArtifactError
from perpml.rundir.io import sha256_file

__all__ = [
    "PreparedDatasetMeta",
    "export_prepared_datasets",
    "load_prepared_datasets",
    "library_versions",
]

SPLITS = ("train", "val", "test")
DEFAULT_ROOT = Path("artifacts") / "datasets"


@dataclass(frozen=True)
class PreparedDatasetMeta:
    """What a prepared dataset is and where it came from.

    Attributes
    ----------
    feature_set_id : str
        Content hash of feature specs, package version and input data.
    features : list of str
        Feature columns, in order.
    boundaries : dict
        ``{split: {"start": iso, "end": iso, "n": int}}`` by bar open time (UTC).
    manifest : dict
        The whole manifest.json content.
    targets : dict of str to DataFrame
        Full target frame of each split (``target_class``, ``target_return``, ...).
    path : Path
        Directory holding the dataset.
    """

    feature_set_id: str
    features: list[str]
    boundaries: dict[str, dict[str, Any]]
    manifest: dict[str, Any]
    targets: dict[str, pd.DataFrame] = field(repr=False)
    path: Path


def library_versions() -> dict[str, str]:
    """Versions of perpml and the libraries that shape its results."""
    from importlib.metadata import PackageNotFoundError, version

    names = [
        "perpml",
        "numpy",
        "pandas",
        "scikit-learn",
        "xgboost-cpu",
        "lightgbm",
        "catboost",
        "torch",
        "ta-lib",
        "shap",
        "optuna",
        "pandera",
    ]
    found: dict[str, str] = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def export_prepared_datasets(
    splits: dict[str, tuple[pd.DataFrame, pd.DataFrame]],
    *,
    feature_set_id: str,
    root: str | Path = DEFAULT_ROOT,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write the prepared train/val/test sets and their manifest, atomically.

    Parameters
    ----------
    splits : dict
        ``{"train": (X, targets), "val": (X, targets), "test": (X, targets)}`` where
        X is a DataFrame of shape (n_bars, n_features) indexed by bar open time (UTC)
        and targets the matching rows of :func:`perpml.features.make_targets`.
    feature_set_id : str
        Id of the feature set; the directory name.
    root : path
        Parent directory; the dataset lands in ``root / feature_set_id``.
    extra : dict, optional
        More manifest entries (data fingerprint, config, ...), JSON-serialisable.

    Returns
    -------
    Path
        The dataset directory.
    """
    missing = [name for name in SPLITS if name not in splits]
    if missing:
        raise ArtifactError(f"export_prepared_datasets needs splits {missing} too.")
    features = list(splits["train"][0].columns)
    for name in SPLITS:
        X, y = splits[name]
        if list(X.columns) != features:
            raise ArtifactError(
                f"Split {name!r} has different feature columns than 'train'; "
                "every split must hold the same features in the same order."
            )
        if not X.index.equals(y.index):
            raise ArtifactError(f"Split {name!r}: X and targets have different rows.")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = root / feature_set_id
    tmp = Path(tempfile.mkdtemp(prefix=f".{feature_set_id}-", dir=root))
    try:
        checksums: dict[str, str] = {}
        boundaries: dict[str, dict[str, Any]] = {}
        for name in SPLITS:
            X, y = splits[name]
            for prefix, frame in (("X", X), ("y", y)):
                filename = f"{prefix}_{name}.parquet"
                frame.to_parquet(tmp / filename)
                checksums[filename] = sha256_file(tmp / filename)
            boundaries[name] = {
                "start": X.index[0].isoformat() if len(X) else None,
                "end": X.index[-1].isoformat() if len(X) else None,
                "n": len(X),
            }
        manifest = {
            "feature_set_id": feature_set_id,
            "features": features,
            "boundaries": boundaries,
            "files": checksums,
            "versions": library_versions(),
            **(extra or {}),
        }
        (tmp / "manifest.json").write_text(
            json.dumps(manifest, indent=2, default=str), encoding="utf-8"
        )
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def load_prepared_datasets(
    feature_set_id: str, root: str | Path = DEFAULT_ROOT
) -> tuple[
    pd.DataFrame,
    pd.Series,
    pd.DataFrame,
    pd.Series,
    pd.DataFrame,
    pd.Series,
    PreparedDatasetMeta,
]:
    """Load a prepared dataset written by :func:`export_prepared_datasets`.

    Returns
    -------
    tuple
        ``(X_train, y_train, X_val, y_val, X_test, y_test, meta)`` as in the seed;
        ``y_*`` are the SHORT/NEUTRAL/LONG class targets (int: 0, 1, 2) and
        ``meta.targets[split]`` the full target frames.

    Raises
    ------
    ArtifactError
        If the dataset is missing, or a file is missing or fails its checksum.
    """
    path = Path(root) / feature_set_id
    manifest_path = path / "manifest.json"
    if not manifest_path.exists():
        available = (
            sorted(p.name for p in Path(root).iterdir() if p.is_dir())
            if Path(root).exists()
            else []
        )
        raise ArtifactError(
            f"No prepared dataset {feature_set_id!r} under {str(root)!r} "
            f"(available: {available or 'none'}). Run `perpml run` first or pass the "
            "`root=` the run wrote to (RUN_DIR/data)."
        )
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    frames: dict[str, pd.DataFrame] = {}
    for filename, expected in manifest["files"].items():
        file = path / filename
        if not file.exists():
            raise ArtifactError(f"{file} is missing; re-export the dataset.")
        if sha256_file(file) != expected:
            raise ArtifactError(
                f"{file} fails its checksum (the file changed after export); "
                "re-export the dataset."
            )
        frames[filename] = pd.read_parquet(file)
    targets = {name: frames[f"y_{name}.parquet"] for name in SPLITS}
    meta = PreparedDatasetMeta(
        feature_set_id=manifest["feature_set_id"],
        features=list(manifest["features"]),
        boundaries=manifest["boundaries"],
        manifest=manifest,
        targets=targets,
        path=path,
    )

    def _class(name: str) -> pd.Series:
        return targets[name]["target_class"].astype("int64")

    return (
        frames["X_train.parquet"],
        _class("train"),
        frames["X_val.parquet"],
        _class("val"),
        frames["X_test.parquet"],
        _class("test"),
        meta,
    )
