"""pytest suite of tools/ (run from the repository root: python3 -m pytest -q tools/tests)."""
