#!/usr/bin/env python3
"""Official PAR / LlamaGen GPT checkpoint (.pt) -> par-video gpt bundle.

    python3 tools/convert_par.py CKPT.pt -o model.safetensors \
        --cube 1 24 24 --parallel 4 --rope 2d --size XL [--dtype bf16]

Reads the .pt without torch (tools/pt_reader.py: nothing in the file runs).
Sizes come from tensor shapes where they can; the head count cannot, so give
--heads or --size (B/L/XL/XXL/3B). See docs/CONVERTING.md.
"""
import argparse
import re
import sys

import numpy as np

import bundle
from pt_reader import PtError, load_pt

WEIGHT_KEYS = ("model", "module", "state_dict")
IGNORED = ("freqs_cis",)


class ConvertError(ValueError):
    pass


def pick_state_dict(obj):
    """-> (state dict, key used). Same precedence as the official sampler."""
    if isinstance(obj, dict):
        for key in WEIGHT_KEYS:
            if key in obj and isinstance(obj[key], dict):
                return obj[key], key
        if obj and all(isinstance(v, np.ndarray) for v in obj.values()):
            return obj, None
    raise ConvertError("no weights: expected a dict with 'model', 'module' or 'state_dict', or a bare state dict")


def clean_names(sd):
    out = {}
    for name, value in sd.items():
        if not isinstance(name, str):
            raise ConvertError(f"state dict key {name!r} is not a string")
        for prefix in ("module.", "_orig_mod."):
            if name.startswith(prefix):
                name = name[len(prefix):]
        if name in IGNORED:
            continue
        if not isinstance(value, np.ndarray):
            raise ConvertError(f"{name}: not a tensor ({type(value).__name__})")
        out[name] = value
    return out


def infer_config(sd, args):
    def shape(name):
        if name not in sd:
            raise ConvertError(f"missing tensor {name}")
        return sd[name].shape
    vocab, dim = shape("tok_embeddings.weight")
    n_layer = 1 + max((int(m.group(1)) for m in (re.match(r"layers\.(\d+)\.", k) for k in sd) if m), default=-1)
    if n_layer == 0:
        raise ConvertError("missing tensor layers.0.attention.wqkv.weight (no transformer layers found)")
    size_layers = None
    if args.size:
        size_layers, n_head, size_dim = bundle.SIZES[args.size]
        if size_dim != dim:
            raise ConvertError(f"--size {args.size} has dim {size_dim}, checkpoint has {dim}")
    if args.heads:
        n_head = args.heads
    elif not args.size:
        raise ConvertError("give --heads or --size: the head count cannot be read from tensor shapes")
    if size_layers is not None and size_layers != n_layer:
        print(f"convert_par: note: --size {args.size} has {size_layers} layers, checkpoint has {n_layer}",
              file=sys.stderr)
    classes = shape("cls_embedding.embedding_table.weight")[0] - 1
    if args.classes is not None and args.classes != classes:
        raise ConvertError(f"--classes {args.classes} but cls_embedding.embedding_table.weight has "
                           f"{classes + 1} rows (classes + null)")
    if dim % n_head:
        raise ConvertError(f"dim {dim} is not divisible by {n_head} heads")
    hd = dim // n_head
    rows = shape("layers.0.attention.wqkv.weight")[0]
    kv = args.kv_heads if args.kv_heads else (rows // hd - n_head) // 2
    spe = sd.get("spe_tok_embeddings.special_embeddings.weight")
    n = args.parallel if args.parallel else (spe.shape[0] + 1 if spe is not None else 1)
    cfg = bundle.gpt_config(
        dim=dim, n_layer=n_layer, n_head=n_head, n_kv_head=None if kv == n_head else kv,
        vocab_size=vocab, num_classes=classes, cube=args.cube, parallel=n, rope=args.rope,
        multiple_of=args.multiple_of, ffn_dim_multiplier=args.ffn_dim_multiplier,
        sampling={"temperature": args.temperature, "cfg_scale": args.cfg, "top_k": args.top_k, "top_p": args.top_p},
        actions=args.actions_list, source=args.source)
    return cfg


def convert(ckpt_path, out_path, args, log=None):
    log = log or sys.stderr
    try:
        pt = load_pt(ckpt_path)
    except PtError as e:
        raise ConvertError(str(e))
    sd, key = pick_state_dict(pt.obj)
    ignored = sorted(k for k in pt.obj if k != key) if key else []
    raw_names = list(sd)
    sd = clean_names(sd)
    stripped = any(n.startswith("module.") for n in raw_names)
    spe = "spe_tok_embeddings.special_embeddings.weight"
    cfg = infer_config(sd, args)
    if cfg["parallel"] == 1 and spe in sd and sd[spe].shape[0] == 0:
        del sd[spe]          # n = 1 checkpoints carry an empty special-token table
    try:
        bundle.write_gpt_bundle(out_path, cfg, sd, dtype=args.dtype.upper())
    except bundle.BundleError as e:
        raise ConvertError(str(e))
    print(f"convert_par: weights from {'key ' + repr(key) if key else 'the bare state dict'}"
          f"{' (stripped module.)' if stripped else ''}, {len(sd)} tensors; ignored: "
          f"{', '.join(ignored) if ignored else 'nothing'}"
          f"{'; opaque globals: ' + ', '.join(pt.opaque) if pt.opaque else ''}", file=log)
    print(f"convert_par: {out_path}: {cfg['n_layer']} layers, dim {cfg['dim']}, {cfg['n_head']} heads, "
          f"vocab {cfg['vocab_size']}, {cfg['num_classes']} classes, cube {cfg['cube']}, n={cfg['parallel']}, "
          f"rope {cfg['rope']}, {args.dtype}", file=log)
    return cfg


def parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--cube", type=int, nargs=3, required=True, metavar=("T", "H", "W"))
    p.add_argument("--parallel", type=int, help="tokens per step n (default: special-token rows + 1)")
    p.add_argument("--rope", choices=("2d", "3d"), required=True)
    p.add_argument("--size", choices=sorted(bundle.SIZES), help="named size (sets heads)")
    p.add_argument("--heads", type=int)
    p.add_argument("--kv-heads", type=int)
    p.add_argument("--classes", type=int, help="check against the class table")
    p.add_argument("--multiple-of", type=int, default=256)
    p.add_argument("--ffn-dim-multiplier", type=float)
    p.add_argument("--dtype", choices=("f32", "f16", "bf16"), default="f32")
    p.add_argument("--actions", help="file with one class name per line")
    p.add_argument("--source", help="free text stored in the bundle")
    p.add_argument("--cfg", type=float, default=1.15)
    p.add_argument("--top-k", type=int, default=8000)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--temperature", type=float, default=1.0)
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    args.actions_list = None
    try:
        if args.actions:
            with open(args.actions) as f:
                args.actions_list = [line.strip() for line in f if line.strip()]
        convert(args.checkpoint, args.output, args)
    except (ConvertError, bundle.BundleError, OSError) as e:
        print(f"convert_par: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
