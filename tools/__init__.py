"""par-video tools, run as modules from the repository root (index: tools/README.md)."""
