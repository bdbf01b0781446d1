"""Data set and training of the built-in model (tools/README.md, tools/TRAINING.md)."""
