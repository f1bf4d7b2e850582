"""Deterministic classification systems, one module each, sharing `base` and `text`."""
