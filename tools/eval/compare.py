"""The figure the Swift-against-torch checks report, and their verdict line."""
import numpy as np


def max_relative(got: np.ndarray, ref: np.ndarray) -> float:
    """max |got - ref| / max |ref|."""
    return float(np.abs(got - ref).max() / np.abs(ref).max())


def verdict(worst: float, limit: float) -> int:
    """Prints the worst figure against the limit; the process exit status (0: within it)."""
    print(f"worst {worst:.2e} (limit {limit:.0e}): {'PASS' if worst <= limit else 'FAIL'}")
    return 0 if worst <= limit else 1
