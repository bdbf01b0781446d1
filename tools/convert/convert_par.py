#!/usr/bin/env python3
"""Official PAR / LlamaGen GPT checkpoint (.pt) -> par-video gpt bundle.

    python3 -m tools.convert.convert_par CKPT.pt -o model.safetensors \
        --cube 1 24 24 --parallel 4 --rope 2d --size XL [--dtype bf16]

Reads the .pt without torch (tools/convert/pt_reader.py: nothing in the file runs).
Sizes come from tensor shapes where they can; the head count cannot, so give
--heads or --size (B/L/XL/XXL/3B). See docs/CONVERTING.md.
"""
import re
import sys

import numpy as np

from tools.convert import bundle
from tools.convert.convert_inputs import (
    ArgumentParser, ConvertError, check_output, describe_keys, float_tensor, read_names, run_main, state_dict_keys,
    text_option)
from tools.convert.pt_reader import PtError, TensorRef, open_pt

WEIGHT_KEYS = ("model", "module", "state_dict")
PREFIXES = ("module.", "_orig_mod.")
IGNORED = ("freqs_cis",)
LAYER = re.compile(r"layers\.([0-9]+)\.", re.ASCII)


def pick_state_dict(obj):
    """-> (state dict, key used). Same precedence as the official sampler."""
    if isinstance(obj, dict):
        for key in WEIGHT_KEYS:
            if key in obj and isinstance(obj[key], dict):
                return obj[key], key
        if obj and all(isinstance(v, (np.ndarray, TensorRef)) for v in obj.values()):
            return obj, None
    raise ConvertError("no weights: expected a dict with 'model', 'module' or 'state_dict', or a bare state dict")


def clean_names(sd):
    """Prefixes stripped (two keys naming one tensor are an error), freqs_cis
    dropped, every other value a floating-point tensor."""
    out = {}
    for name, (raw, value) in state_dict_keys(sd, PREFIXES).items():
        if name in IGNORED:
            continue
        out[name] = float_tensor(name, value)
    return out


def layer_count(sd):
    """Layers are the `layers.{i}.` indices present, which must run 0..L-1:
    the count comes from the keys, never from an index (layers.100000000.x)."""
    found = {int(m.group(1)) for m in (LAYER.match(k) for k in sd) if m}
    if not found:
        raise ConvertError("missing tensor layers.0.attention.wqkv.weight (no transformer layers found)")
    missing = sorted(set(range(len(found))) - found)
    if missing:
        raise ConvertError(f"layer indices must run 0..{len(found) - 1} without gaps: layer {missing[0]} is missing "
                           f"(highest index {max(found)})")
    return len(found)


def positive(args, name, flag):
    v = getattr(args, name, None)
    if v is not None and (not bundle.is_int(v) or v < 1):
        raise ConvertError(f"{flag} must be an integer >= 1, got {v!r:.40}")
    return v


def check_options(args):
    """Option values, before the checkpoint is read; the config rules
    themselves are bundle.validate_gpt_config's, applied once sizes are known."""
    for name, flag in (("heads", "--heads"), ("kv_heads", "--kv-heads"), ("parallel", "--parallel"),
                       ("classes", "--classes"), ("multiple_of", "--multiple-of")):
        positive(args, name, flag)
    cube = list(args.cube)
    if len(cube) != 3 or not all(bundle.is_int(c) and 1 <= c <= bundle.INT_MAX for c in cube):
        raise ConvertError(f"--cube needs three integers >= 1, got {' '.join(map(str, cube))[:60]}")
    if args.ffn_dim_multiplier is not None:
        bundle.check_number("--ffn-dim-multiplier", args.ffn_dim_multiplier, lo=0, lo_open=True, float32=False,
                            error=ConvertError)
    try:
        bundle.validate_sampling(sampling(args))
    except bundle.BundleError as e:
        raise ConvertError(str(e).replace("sampling: ", "--").replace("cfg_scale", "cfg").replace("_", "-"))
    text_option("--source", args.source)


# The paper's CFG per published class-to-image model (by width: XL, XXL, 3B), with top-k 0 (all tokens).
PAPER_CFG = {1280: 1.5, 1536: 1.435, 3200: 1.345}


def sampling(args, dim=None):
    """--cfg and --top-k as given; else, for an image model (--image-size) of a published width,
    the paper's values, and the general defaults otherwise."""
    image = getattr(args, "image_size", None) is not None
    cfg = args.cfg if args.cfg is not None else (PAPER_CFG.get(dim, 1.5) if image else bundle.DEFAULT_SAMPLING["cfg_scale"])
    top_k = args.top_k if args.top_k is not None else (0 if image else bundle.DEFAULT_SAMPLING["top_k"])
    return {"temperature": args.temperature, "cfg_scale": cfg, "top_k": top_k, "top_p": args.top_p}


def infer_config(sd, args):
    def shape(name, rank):
        if name not in sd:
            raise ConvertError(f"missing tensor {name}")
        if sd[name].ndim != rank:
            raise ConvertError(f"tensor {name} has shape {list(sd[name].shape)}, expected {rank} dimensions")
        return sd[name].shape
    vocab, dim = shape("tok_embeddings.weight", 2)
    n_layer = layer_count(sd)
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
    if dim < 1 or vocab < 1:
        raise ConvertError(f"tok_embeddings.weight has shape {[vocab, dim]}: vocabulary and dim must be >= 1")
    classes = shape("cls_embedding.embedding_table.weight", 2)[0] - 1
    if args.classes is not None and args.classes != classes:
        raise ConvertError(f"--classes {args.classes} but cls_embedding.embedding_table.weight has "
                           f"{classes + 1} rows (classes + null)")
    if classes < 1:
        raise ConvertError(f"cls_embedding.embedding_table.weight has {classes + 1} rows: "
                           "needs at least one class and the null class")
    if dim % n_head or (dim // n_head) % 2:
        raise ConvertError(f"dim {dim} does not split into {n_head} heads of even size")
    hd = dim // n_head
    rows = shape("layers.0.attention.wqkv.weight", 2)[0]
    if args.kv_heads:
        kv = args.kv_heads
    else:
        kv, rest = divmod(rows // hd - n_head, 2) if rows % hd == 0 else (0, 1)
        if rest or kv < 1:
            raise ConvertError(f"layers.0.attention.wqkv.weight has {rows} rows: not (n_head + 2 * kv_heads) x "
                               f"head_dim {hd} for {n_head} heads")
    spe = sd.get("spe_tok_embeddings.special_embeddings.weight")
    if spe is not None and spe.ndim != 2:
        raise ConvertError(f"tensor spe_tok_embeddings.special_embeddings.weight has shape {list(spe.shape)}, "
                           "expected 2 dimensions")
    n = args.parallel if args.parallel else (spe.shape[0] + 1 if spe is not None else 1)
    cfg = bundle.gpt_config(
        dim=dim, n_layer=n_layer, n_head=n_head, n_kv_head=None if kv == n_head else kv,
        vocab_size=vocab, num_classes=classes, cube=args.cube, parallel=n, rope=args.rope,
        multiple_of=args.multiple_of, ffn_dim_multiplier=args.ffn_dim_multiplier,
        sampling=sampling(args, dim), actions=args.actions_list, source=args.source, image_size=image_size(args))
    return cfg


def image_size(args):
    """--image-size (the published class-to-image GPTs: 16 x H, through VQ-16), or not recorded."""
    return positive(args, "image_size", "--image-size")


def convert(ckpt_path, out_path, args, log=None):
    log = log or sys.stderr
    check_options(args)
    check_output(out_path, [ckpt_path, getattr(args, "actions", None)])
    try:
        pt = open_pt(ckpt_path)
    except PtError as e:
        raise ConvertError(str(e))
    with pt:        # tensors are read from the archive one at a time, as the bundle is written
        sd, key = pick_state_dict(pt.obj)
        ignored = sorted(describe_keys(k for k in pt.obj if k != key)) if key else []
        raw_names = list(sd)
        sd = clean_names(sd)
        stripped = any(isinstance(n, str) and n.startswith("module.") for n in raw_names)
        spe = "spe_tok_embeddings.special_embeddings.weight"
        cfg = infer_config(sd, args)
        if cfg["parallel"] == 1 and spe in sd and sd[spe].shape[0] == 0:
            del sd[spe]          # n = 1 checkpoints carry an empty special-token table
        try:
            bundle.write_gpt_bundle(out_path, cfg, sd, dtype=args.dtype.upper())
        except (bundle.BundleError, PtError) as e:
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
    p = ArgumentParser(prog="convert_par", description=__doc__.split("\n\n")[0])
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
    p.add_argument("--image-size", type=int, help="image side of a class-to-image model, recorded in the bundle (e.g. 384 for a 24 x 24 cube)")
    p.add_argument("--actions", help="file with one class name per line")
    p.add_argument("--source", help="free text stored in the bundle")
    p.add_argument("--cfg", type=float, help="(default: with --image-size the paper's per model, 1.5 XL, 1.435 XXL, "
                   "1.345 3B, 1.5 other widths; else 1.15)")
    p.add_argument("--top-k", type=int, help="(default: 0, all tokens, with --image-size; else 8000)")
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--temperature", type=float, default=1.0)
    return p


def main(argv=None):
    args = parser().parse_args(argv)

    def body():
        args.actions_list = read_names(args.actions) if args.actions else None
        convert(args.checkpoint, args.output, args)
        return 0
    return run_main("convert_par", body)


if __name__ == "__main__":
    sys.exit(main())
