"""Saving and loading models: native file(s) + a JSON sidecar, never pickles.

A saved model is a directory::

    <path>/
      model.ubj | model.txt | model.cbm | model.pt ...   native format of the library
      model.json                                         sidecar (below)

The sidecar ``model.json`` records the model class key (a name looked up in a fixed
registry, never an import path), task, ``params`` (as given) and the resolved params,
``random_state``, ``n_jobs``, feature names, classes, library versions (perpml,
numpy, python and the model library), training metadata (``n_train``, ``n_val``,
``n_iterations``, ``best_iteration``) and the sha256 of every native file.

Loading verifies that every listed file exists and matches its checksum, that the
sidecar format is known, and that the installed model library has the same
``major.minor`` release as the one that wrote the file (native formats can change
between releases, and a different release may predict differently). Any failure
raises :class:`~perpml.exceptions.ArtifactError` naming the path and the fix.

Writes are atomic: everything is written into a temporary directory next to
``path`` and renamed into place, so a crash never leaves a half-written model.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import platform
import shutil
import tempfile
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from perpml.exceptions import ArtifactError, ModelError

if TYPE_CHECKING:
    from perpml.models.base import BaseModel

__all__ = ["FORMAT_VERSION", "SIDECAR_NAME", "load_model", "read_sidecar", "save_model"]

#: File name of the JSON sidecar inside a saved-model directory.
SIDECAR_NAME = "model.json"
#: Version of the sidecar layout; bumped on incompatible changes.
FORMAT_VERSION = 1
_FORMAT = "perpml-model"
_CHUNK = 1 << 20
# perpml's own model modules, imported on demand when a sidecar names a class not
# registered yet (the torch models load lazily). A fixed list, never read from files.
_MODEL_MODULES = (
    "perpml.models.classifiers",
    "perpml.models.regressors",
    "perpml.models.neural_net",
    "perpml.models.lstm_forecaster",
    "perpml.models.ensemble",
)


def _import_model_modules() -> None:
    for module in _MODEL_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:  # a real missing dependency, not an absent module
                raise


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _perpml_version() -> str:
    try:
        return metadata.version("perpml")
    except metadata.PackageNotFoundError:
        return "unknown"


def _library_version(library: str) -> str:
    module = importlib.import_module(library)
    return str(getattr(module, "__version__", "unknown"))


def _release(version: str) -> tuple[str, ...]:
    return tuple(version.split("+")[0].split(".")[:2])


def _json_default(value: Any) -> Any:
    # numpy scalars and arrays come out of tuners (optuna, grids) routinely.
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON serializable: {value!r} ({type(value).__name__})")


def save_model(model: BaseModel, path: str | Path) -> Path:
    """Save a fitted model to directory ``path`` atomically.

    Parameters
    ----------
    model : BaseModel
        A fitted perpml model.
    path : str or Path
        Target directory. It must not exist, be empty, or hold an earlier saved
        model (which is replaced); any other existing path is refused.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ArtifactError
        If ``path`` is an unrelated existing file/directory, a param is not JSON
        serializable, or the native writer fails.
    """
    model._check_fitted()
    target = Path(path)
    if target.exists():
        if not target.is_dir():
            raise ArtifactError(
                f"Cannot save a model to {target}: it is an existing file. Pass a "
                "directory path (a new one, or one holding a saved model)."
            )
        if any(target.iterdir()) and not (target / SIDECAR_NAME).is_file():
            raise ArtifactError(
                f"Cannot save a model to {target}: the directory is not empty and "
                f"holds no {SIDECAR_NAME}, so it is not a saved model we may replace. "
                "Pass a new or empty directory."
            )
    params = {} if model.params is None else dict(model.params)
    try:
        params_json = json.loads(json.dumps(params, default=_json_default))
        resolved_json = json.loads(json.dumps(model.params_, default=_json_default))
    except (TypeError, ValueError) as exc:
        raise ArtifactError(
            f"Cannot save {type(model).__name__} to {target}: params must be "
            f"JSON-serializable (numbers, strings, bools, lists, mappings); {exc}."
        ) from exc

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    backup: Path | None = None
    try:
        try:
            model._save_native(tmp)
        except ModelError:
            raise
        except Exception as exc:
            raise ArtifactError(
                f"Writing the native {model.native_library} model of "
                f"{type(model).__name__} to {target} failed: {exc}"
            ) from exc
        entries = sorted(tmp.iterdir())
        if not entries or any(not p.is_file() for p in entries):
            raise ArtifactError(
                f"{type(model).__name__}._save_native must write one or more flat "
                f"files, got {[p.name for p in entries]}. Fix the model class."
            )
        if any(p.name == SIDECAR_NAME for p in entries):
            raise ArtifactError(
                f"{type(model).__name__}._save_native wrote {SIDECAR_NAME}, which is "
                "reserved for the sidecar. Fix the model class."
            )
        sidecar = {
            "format": _FORMAT,
            "format_version": FORMAT_VERSION,
            "model_class": type(model).__name__,
            "task": model.task,
            "native_library": model.native_library,
            "params": params_json,
            "resolved_params": resolved_json,
            "random_state": int(model.random_state),
            "n_jobs": int(model.n_jobs),
            **model._sidecar_state(),
            "versions": {
                "perpml": _perpml_version(),
                "python": platform.python_version(),
                "numpy": np.__version__,
                model.native_library: _library_version(model.native_library),
            },
            "files": {p.name: _sha256(p) for p in entries},
            "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        with (tmp / SIDECAR_NAME).open("w", encoding="utf-8") as fh:
            json.dump(sidecar, fh, indent=2, sort_keys=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        if target.exists():
            # A non-empty directory cannot be replaced by rename; move it aside
            # first so the swap is two renames and the old model is never half-gone.
            backup = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
            os.replace(target, backup)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if backup is not None and backup.exists() and not target.exists():
            os.replace(backup, target)
        raise
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)
    return target


def read_sidecar(path: str | Path) -> dict[str, Any]:
    """Read and verify the sidecar of the saved model at ``path``.

    Checks the format, then every native file against its recorded sha256.

    Parameters
    ----------
    path : str or Path
        Saved-model directory (or its ``model.json``).

    Returns
    -------
    dict
        The parsed sidecar.

    Raises
    ------
    ArtifactError
        Missing directory/sidecar/file, unreadable JSON, unknown format, checksum
        mismatch.
    """
    directory = Path(path)
    if directory.name == SIDECAR_NAME and directory.is_file():
        directory = directory.parent
    sidecar_path = directory / SIDECAR_NAME
    if not sidecar_path.is_file():
        raise ArtifactError(
            f"No saved model at {directory}: {SIDECAR_NAME} is missing. Pass the "
            "directory written by model.save(path)."
        )
    try:
        sidecar = json.loads(sidecar_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(
            f"{sidecar_path} is not valid JSON ({exc}); the saved model is corrupt. "
            "Save the model again."
        ) from exc
    required = (
        "format",
        "format_version",
        "model_class",
        "task",
        "native_library",
        "params",
        "random_state",
        "n_jobs",
        "feature_names",
        "trained_classes",
        "training",
        "versions",
        "files",
    )
    missing = [k for k in required if not isinstance(sidecar, dict) or k not in sidecar]
    if missing or sidecar.get("format") != _FORMAT:
        raise ArtifactError(
            f"{sidecar_path} is not a perpml model sidecar (missing keys {missing} "
            f"or format != {_FORMAT!r}). Save the model again with model.save(path)."
        )
    if sidecar["format_version"] != FORMAT_VERSION:
        raise ArtifactError(
            f"{sidecar_path} has sidecar format_version {sidecar['format_version']}, "
            f"this perpml reads version {FORMAT_VERSION}. Install the perpml version "
            f"that wrote it ({sidecar['versions'].get('perpml')}) or retrain."
        )
    files = sidecar["files"]
    if not isinstance(files, Mapping) or not files:
        raise ArtifactError(
            f"{sidecar_path} lists no native files; the saved model is corrupt. "
            "Save the model again."
        )
    for name, expected in files.items():
        file = directory / name
        if Path(name).name != name or not file.is_file():
            raise ArtifactError(
                f"Saved model at {directory} is incomplete: {name} is missing. "
                "Restore the whole directory or save the model again."
            )
        actual = _sha256(file)
        if actual != expected:
            raise ArtifactError(
                f"Checksum mismatch for {file}: expected sha256 {expected}, got "
                f"{actual}. The file was modified or corrupted; restore it or save "
                "the model again."
            )
    return sidecar


def _check_versions(sidecar: Mapping[str, Any], directory: Path) -> None:
    library = sidecar["native_library"]
    saved = sidecar["versions"].get(library)
    try:
        installed = _library_version(library)
    except ImportError as exc:
        raise ArtifactError(
            f"The model at {directory} needs {library} (saved with {saved}), which "
            f"is not installed. Install {library}=={saved}."
        ) from exc
    if saved is None or _release(str(saved)) != _release(installed):
        raise ArtifactError(
            f"The model at {directory} was saved with {library} {saved}, but "
            f"{library} {installed} is installed; the native format or its "
            f"predictions may differ across releases. Install "
            f"{library}=={'.'.join(_release(str(saved)))}.* or retrain and save again."
        )


def load_model(path: str | Path, expected: type[BaseModel] | None = None) -> BaseModel:
    """Load the saved model at ``path``, whatever its class.

    Parameters
    ----------
    path : str or Path
        Directory written by :meth:`BaseModel.save`.
    expected : BaseModel subclass, optional
        When given (``SomeModel.load(path)`` passes its class), the saved class must
        be it or a subclass.

    Returns
    -------
    BaseModel
        The fitted model; its predictions equal those of the saved one.

    Raises
    ------
    ArtifactError
        See :func:`read_sidecar`; also an unknown model class, a class mismatch, a
        library release mismatch, or a native file the library cannot read.
    """
    from perpml.models.registry import registered_models

    directory = Path(path)
    if directory.name == SIDECAR_NAME and directory.is_file():
        directory = directory.parent
    sidecar = read_sidecar(directory)
    key = sidecar["model_class"]
    registry = registered_models()
    if key not in registry:
        _import_model_modules()
        registry = registered_models()
    cls = registry.get(key)
    if cls is None:
        raise ArtifactError(
            f"The model at {directory} is a {key!r}, which is not a known model "
            f"class (known: {sorted(registry)}). Import the module defining it "
            "before loading."
        )
    if expected is not None and not issubclass(cls, expected):
        raise ArtifactError(
            f"The model at {directory} is a {key}, not a {expected.__name__}. Load "
            f"it with {key}.load(path) or perpml.models.load_model(path)."
        )
    if sidecar["task"] != cls.task:
        raise ArtifactError(
            f"{directory / SIDECAR_NAME} says task={sidecar['task']!r} but {key} is "
            f"a {cls.task} model; the sidecar is corrupt. Save the model again."
        )
    _check_versions(sidecar, directory)
    model = cls(
        params=cls._decode_params(sidecar["params"]),
        random_state=int(sidecar["random_state"]),
        n_jobs=int(sidecar["n_jobs"]),
    )
    try:
        model._restore_state(sidecar)
        model._load_native(directory)
    except ArtifactError:
        raise
    except Exception as exc:
        raise ArtifactError(
            f"Could not restore the {key} saved at {directory}: {exc}. The files "
            "pass their checksums, so the save itself is broken; save the model again."
        ) from exc
    if not model.__sklearn_is_fitted__():
        raise ArtifactError(
            f"{key}._load_native did not set native_model_ for {directory}. Fix the "
            "model class."
        )
    return model
