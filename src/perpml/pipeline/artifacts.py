"""Prepared-dataset artifacts (kept here for compatibility: see :mod:`perpml.rundir`)."""

from __future__ import annotations

from perpml.rundir.datasets import (
    PreparedDatasetMeta,
    export_prepared_datasets,
    library_versions,
    load_prepared_datasets,
)

__all__ = [
    "PreparedDatasetMeta",
    "export_prepared_datasets",
    "library_versions",
    "load_prepared_datasets",
]
