"""numpy references the Swift tests compare with (tools/README.md)."""
