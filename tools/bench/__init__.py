"""The PyTorch peers of BENCHMARKS.md (tools/README.md)."""
