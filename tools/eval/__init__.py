"""Evaluation of the built-in model (tools/README.md)."""
