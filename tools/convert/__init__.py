"""Checkpoints to par-video bundles, numpy only (tools/README.md)."""
