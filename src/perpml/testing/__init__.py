"""Reusable check suites for new models, sources and features."""
