"""SHAP interpretability of fitted models (:class:`ModelInterpreter`)."""

from __future__ import annotations

from perpml.explain.interpreter import ModelInterpreter

__all__ = ["ModelInterpreter"]
