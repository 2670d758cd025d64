"""The run-directory format: one home for what ``perpml run`` writes and others read.

The pipeline writes a run directory and the report, the audit, the feature store and
``perpml signal`` read it; all of them go through this package, so the format has one
definition and data flows one way (``pipeline`` and ``report`` both sit above it)::

    config.toml  run.json  metrics.json  metrics.csv  walk_forward.csv
    predictions/<model>.parquet   models/<model>/ (+ scaler.json)   data/<feature_set_id>/
    report/

:mod:`perpml.rundir.io` holds the atomic, strict-JSON writers; :mod:`.datasets` the
prepared train/val/test datasets; :mod:`.layout` reads a finished run.
"""

from __future__ import annotations

from perpml.rundir.datasets import (
    PreparedDatasetMeta,
    export_prepared_datasets,
    library_versions,
    load_prepared_datasets,
)
from perpml.rundir.io import (
    read_json,
    sha256_file,
    strict_json,
    write_json_atomic,
    write_text_atomic,
)

__all__ = [
    "PreparedDatasetMeta",
    "export_prepared_datasets",
    "library_versions",
    "load_prepared_datasets",
    "read_json",
    "sha256_file",
    "strict_json",
    "write_json_atomic",
    "write_text_atomic",
]
