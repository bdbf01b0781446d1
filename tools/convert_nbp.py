#!/usr/bin/env python3
"""NBP MAGVIT-v2 (FSQ) tokenizer checkpoint (.pt) -> par-video tokenizer bundle.

    python3 tools/convert_nbp.py magvit2_ucf.pt -o tokenizer.safetensors [--dtype bf16]
    python3 tools/convert_nbp.py other.pt -o t.safetensors --config cfg.json

Reads the .pt without torch (tools/pt_reader.py: nothing in the file runs).
Takes `model_state_dict` (or `state_dict` / `model`, or a bare state dict),
strips the DDP `module.` prefix, keeps `encoder_layers.*`, `decoder_layers.*`
and `quantizers.*`, drops everything else (discriminators, the perceptual
network, optimizer state). The config (docs/TOKENIZER.md) cannot be read off
the tensors (FSQ levels, how an up-sampling factor splits over t/h/w), so it
is NBP's UCF-101 one unless --config names a JSON file; every tensor is then
checked against the shapes the config implies. Convolution kernels are stored
in --dtype; biases, norm gains and swish betas stay F32 (they are tiny).
"""
import argparse
import json
import sys

import numpy as np

import bundle
import magvit2_reference as ref
from pt_reader import PtError, load_pt

STATE_KEYS = ("model_state_dict", "state_dict", "model")
KEPT = ("encoder_layers.", "decoder_layers.", "quantizers.")


class ConvertError(ValueError):
    pass


def pick_state_dict(obj):
    if isinstance(obj, dict):
        for key in STATE_KEYS:
            if isinstance(obj.get(key), dict):
                return obj[key]
        if obj and all(isinstance(v, np.ndarray) for v in obj.values()):
            return obj
    raise ConvertError("no weights: expected a dict with 'model_state_dict', 'state_dict' or 'model', or a bare state dict")


def tokenizer_tensors(sd):
    """Strip `module.`, keep the tokenizer's entries -> (tensors, dropped names)."""
    out, dropped = {}, []
    for name, value in sd.items():
        bare = name[len("module."):] if name.startswith("module.") else name
        if bare.startswith(KEPT) and isinstance(value, np.ndarray):
            out[bare] = np.asarray(value, dtype=np.float32)
        else:
            dropped.append(name)
    if not out:
        raise ConvertError("no encoder_layers.* / decoder_layers.* tensors: not an NBP tokenizer checkpoint")
    return out, dropped


def validate_config(cfg):
    try:
        for key in ("in_channels", "embed_dim", "fsq_levels", "norm_groups", "norm_eps", "kernel",
                    "encoder", "decoder", "frames", "size"):
            if key not in cfg:
                raise ConvertError(f"tokenizer config: missing key '{key}'")
        if cfg["embed_dim"] != len(cfg["fsq_levels"]):
            raise ConvertError("tokenizer config: embed_dim must equal len(fsq_levels) (no FSQ projections)")
        for part, key in (("encoder", "down"), ("decoder", "up")):
            c = cfg[part]
            n = len(c["channels"])
            if len(c["res_units"]) != n or len(c[key]) != n - 1:
                raise ConvertError(f"tokenizer config: {part} needs {n} res_units and {n - 1} '{key}' factors")
            if any(ch % cfg["norm_groups"] for ch in c["channels"]):
                raise ConvertError(f"tokenizer config: {part} channels not divisible by {cfg['norm_groups']} groups")
    except (TypeError, KeyError) as e:
        raise ConvertError(f"tokenizer config: malformed ({e})")
    return cfg


def check_tensors(cfg, tensors):
    shapes = ref.weight_shapes(cfg)
    for name, shape in shapes.items():
        if name not in tensors:
            raise ConvertError(f"missing tensor {name} (expected shape {list(shape)}): checkpoint and config disagree")
        if tensors[name].shape != tuple(shape):
            raise ConvertError(f"tensor {name} has shape {list(tensors[name].shape)}, expected {list(shape)}")
    extra = sorted(set(tensors) - set(shapes))
    if extra:  # e.g. FSQ projections, which par-video does not implement
        raise ConvertError(f"unexpected tensor {extra[0]}" + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""))


def write_tokenizer_bundle(path, cfg, tensors, dtype="F32", source=None):
    if dtype not in ("F32", "F16", "BF16"):
        raise ConvertError(f"weight dtype must be F32, F16 or BF16, got {dtype}")
    validate_config(cfg)
    check_tensors(cfg, tensors)
    cfg = dict(cfg)
    if source:
        cfg["source"] = source
    meta = {"par_video": json.dumps({"format": "par-video", "version": 1, "kind": "tokenizer", "config": cfg},
                                    sort_keys=True)}
    dtypes = {k: (dtype if v.ndim == 5 else "F32") for k, v in tensors.items()}
    bundle.write_safetensors(path, tensors, meta, dtypes)


def read_tokenizer_bundle(path):
    """-> (config, float32 tensors, dtype names)."""
    tensors, meta, dtypes = bundle.read_safetensors(path)
    info = json.loads(meta.get("par_video", "{}"))
    if info.get("format") != "par-video" or info.get("kind") != "tokenizer":
        raise ConvertError(f"{path}: not a par-video tokenizer bundle")
    cfg = validate_config(info["config"])
    check_tensors(cfg, tensors)
    return cfg, {k: np.asarray(v, dtype=np.float32) for k, v in tensors.items()}, dtypes


def convert(checkpoint, output, config=None, dtype="F32", source=None):
    try:
        pt = load_pt(checkpoint)
    except PtError as e:
        raise ConvertError(str(e))
    tensors, dropped = tokenizer_tensors(pick_state_dict(pt.obj))
    cfg = validate_config(config or ref.NBP_UCF_CONFIG)
    write_tokenizer_bundle(output, cfg, tensors, dtype, source)
    return tensors, dropped


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--config", help="JSON file with the tokenizer config (default: NBP's UCF-101 tokenizer)")
    p.add_argument("--dtype", choices=("f32", "f16", "bf16"), default="f32", help="dtype of the conv kernels")
    p.add_argument("--source", help="free text stored in the config")
    args = p.parse_args(argv)
    try:
        cfg = None
        if args.config:
            with open(args.config) as f:
                cfg = json.load(f)
        tensors, dropped = convert(args.checkpoint, args.output, cfg, args.dtype.upper(),
                                   args.source or f"converted from {args.checkpoint}")
    except (ConvertError, bundle.BundleError, OSError, ValueError) as e:
        print(f"convert_nbp: error: {e}", file=sys.stderr)
        return 1
    n = sum(v.size for v in tensors.values())
    print(f"{args.output}: {len(tensors)} tensors, {n / 1e6:.1f}M parameters, kernels {args.dtype}; dropped {len(dropped)} entries")
    return 0


if __name__ == "__main__":
    sys.exit(main())
