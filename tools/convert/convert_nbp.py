#!/usr/bin/env python3
"""NBP MAGVIT-v2 (FSQ) tokenizer checkpoint (.pt) -> par-video tokenizer bundle.

    python3 -m tools.convert.convert_nbp magvit2_ucf.pt -o tokenizer.safetensors [--dtype bf16]
    python3 -m tools.convert.convert_nbp other.pt -o t.safetensors --config cfg.json

Reads the .pt without torch (tools/convert/pt_reader.py: nothing in the file runs).
Takes `model_state_dict` (or `state_dict` / `model`, or a bare state dict),
strips the DDP `module.` prefix, keeps `encoder_layers.*`, `decoder_layers.*`
and `quantizers.*`, drops everything else (discriminators, the perceptual
network, optimizer state). The config (docs/TOKENIZER.md) cannot be read off
the tensors (FSQ levels, how an up-sampling factor splits over t/h/w), so it
is NBP's UCF-101 one unless --config names a JSON file; every tensor is then
checked against the shapes the config implies. Convolution kernels are stored
in --dtype; biases, norm gains and swish betas stay F32 (they are tiny).
"""
import sys

from tools.convert import bundle
from tools.reference import magvit2_reference as ref
from tools.convert.convert_inputs import (
    ConvertError, check_config_keys, check_output, kept_tensors, pick_state_dict, read_kind_bundle,
    tokenizer_converter_main, write_kind_bundle, text_option)
from tools.convert.pt_reader import PtError, load_pt

STATE_KEYS = ("model_state_dict", "state_dict", "model")
KEPT = ("encoder_layers.", "decoder_layers.", "quantizers.")
CONFIG_KEYS = ("in_channels", "embed_dim", "fsq_levels", "norm_groups", "norm_eps", "kernel",
               "encoder", "decoder", "frames", "size")
# TokenizerConfig.Limits (far above NBP's sizes; par-video's products of them
# fit an Int) and FSQ's vocabulary limit, that of a GPT's vocabulary.
LIMITS = {"in_channels": 16, "channels": 65_536, "stages": 16, "res_units": 1_024, "factor": 8, "kernel": 15,
          "frames": 4_096, "size": 4_096}
MAX_VOCAB = bundle.GPT_LIMITS["vocab_size"]


def tokenizer_tensors(sd):
    """Strip `module.`, keep the tokenizer's entries -> (tensors, dropped names).
    Two keys naming one tensor (`module.x` and `x`) are an error."""
    out, dropped = kept_tensors(sd, KEPT)
    if not out:
        raise ConvertError("no encoder_layers.* / decoder_layers.* tensors: not an NBP tokenizer checkpoint")
    return out, dropped


def _ints(what, v, lo, count=None, hi=bundle.INT_MAX):
    if not isinstance(v, list) or (count is not None and len(v) != count) or \
            not all(bundle.is_int(x) and lo <= x <= hi for x in v):
        n = f"{count} " if count is not None else ""
        rng = f">= {lo}" if hi == bundle.INT_MAX else f"in {lo}...{hi}"
        raise ConvertError(f"tokenizer config: {what} must be a list of {n}integers {rng}, got {v!r:.80}")
    return v


def _int(what, v, lo=1, hi=bundle.INT_MAX):
    if not bundle.is_int(v) or not lo <= v <= hi:
        rng = f">= {lo}" if hi == bundle.INT_MAX else f"in {lo}...{hi}"
        raise ConvertError(f"tokenizer config: {what} must be an integer {rng}, got {v!r:.40}")
    return v


def validate_config(cfg):
    """par-video's rules for a tokenizer config (TokenizerConfig's decoding and
    validate(), FSQ's levels), with every value's type checked first."""
    check_config_keys(cfg, CONFIG_KEYS, "tokenizer")
    _int("in_channels", cfg["in_channels"], hi=LIMITS["in_channels"])
    kernel = _int("kernel", cfg["kernel"], hi=LIMITS["kernel"])
    if kernel % 2 == 0:
        raise ConvertError(f"tokenizer config: kernel must be odd, got {kernel}")
    groups = _int("norm_groups", cfg["norm_groups"])
    bundle.check_number("tokenizer config: norm_eps", cfg["norm_eps"], lo=0, lo_open=True, error=ConvertError)
    levels = _ints("fsq_levels", cfg["fsq_levels"], 2)
    vocab = 1
    for level in levels:
        vocab *= level
    if not levels or vocab > MAX_VOCAB:
        raise ConvertError(f"tokenizer config: fsq_levels must be non-empty with a product (the vocabulary) "
                           f"of at most {MAX_VOCAB}, got {len(levels)} levels")
    if _int("embed_dim", cfg["embed_dim"]) != len(levels):
        raise ConvertError("tokenizer config: embed_dim must equal len(fsq_levels) (no FSQ projections)")
    frames = _int("frames", cfg["frames"], hi=LIMITS["frames"])
    size = _int("size", cfg["size"], hi=LIMITS["size"])
    for part, key in (("encoder", "down"), ("decoder", "up")):
        c = cfg[part]
        if not isinstance(c, dict) or any(k not in c for k in ("channels", "res_units", key)):
            raise ConvertError(f"tokenizer config: {part} must be an object with channels, res_units and {key}")
        extra = sorted(str(k) for k in c if k not in ("channels", "res_units", key))
        if extra:
            raise ConvertError(f"tokenizer config: {part}: unknown key {extra[0]!r:.40}")
        ch = _ints(f"{part} channels", c["channels"], 1, hi=LIMITS["channels"])
        n = len(ch)
        if not 1 <= n <= LIMITS["stages"]:
            raise ConvertError(f"tokenizer config: {part} needs 1...{LIMITS['stages']} stages, got {n}")
        units = _ints(f"{part} res_units", c["res_units"], 0, n, hi=LIMITS["res_units"])
        if not isinstance(c[key], list) or len(c[key]) != n - 1:
            raise ConvertError(f"tokenizer config: {part} needs {n} res_units and {n - 1} '{key}' factors")
        factors = [_ints(f"{part} {key} factors", f, 1, 3, hi=LIMITS["factor"]) for f in c[key]]
        for i, f in enumerate(factors):     # depth-to-space fills C * ft * fh * fw channels
            if ch[i] * f[0] * f[1] * f[2] > LIMITS["channels"] * 512:
                raise ConvertError(f"tokenizer config: {part} stage {i + 1} needs too many channels")
        if any(x % groups for x in ch):
            raise ConvertError(f"tokenizer config: {part} channels not divisible by {groups} groups")
        for i in range(1, n):
            if ch[i] != ch[i - 1] and units[i] == 0:
                raise ConvertError(f"tokenizer config: {part} stage {i} changes channels but has no residual unit")
        if part == "encoder" and any(f[1] != f[2] for f in factors):
            raise ConvertError("tokenizer config: encoder factors must be square in space")
    down = cfg["encoder"]["down"]
    tf, sf = 1, 1
    for f in down:
        tf, sf = tf * f[0], sf * f[1]
    if (frames - 1) % tf:
        raise ConvertError(f"tokenizer config: frames must be 1 + k * {tf}, got {frames}")
    if size % sf:
        raise ConvertError(f"tokenizer config: size must be a multiple of {sf}, got {size}")
    need, have = memory_bytes(cfg, tf, sf), bundle.physical_memory()
    if have is not None and need > have:
        raise ConvertError(f"tokenizer config: a {frames}-frame clip of {size}x{size} needs about {need / 1e9:.1f} GB "
                           f"of memory, this machine has {have / 1e9:.1f} GB")
    if cfg.get("source") is not None:
        bundle.check_text("tokenizer config: source", cfg["source"], error=ConvertError)
    return cfg


def memory_bytes(cfg, tf, sf):
    """TokenizerConfig.decodeBytes of the clip the config names, plus its
    encode estimate: what par-video checks against memory at load."""
    frames, size, d = cfg["frames"], cfg["size"], cfg["decoder"]
    t, h, w = 1 + (frames - 1) // tf, size // sf, size // sf
    ft, fh, fw = t, h, w
    for f in d["up"]:
        ft, fh, fw = ft * f[0] - (f[0] - 1), fh * f[1], fw * f[2]
    out_floats = ft * fh * fw * cfg["in_channels"]
    ft, fh, fw = 1, h, w
    largest = ft * fh * fw * max(cfg["embed_dim"], d["channels"][0])
    for s, f in enumerate(d["up"]):
        widened = ft * fh * fw * d["channels"][s] * f[0] * f[1] * f[2]
        ft, fh, fw = ft * f[0], fh * f[1], fw * f[2]
        largest = max(largest, widened, ft * fh * fw * d["channels"][s + 1])
    decode = (out_floats + largest * 4) * 4
    encode = frames * size * size * max(cfg["encoder"]["channels"]) * 3 * 4
    return decode + encode


def check_tensors(cfg, tensors):
    # Every stage and residual unit has tensors: a config naming more than the
    # checkpoint holds is refused before its layer list is built.
    layers = sum(len(cfg[p]["channels"]) + sum(cfg[p]["res_units"]) for p in ("encoder", "decoder"))
    if layers > len(tensors):
        raise ConvertError(f"tokenizer config names {layers} layers, the checkpoint has {len(tensors)} tensors")
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
    cfg = dict(cfg)
    if source:
        cfg["source"] = text_option("--source", source)
    write_kind_bundle(path, "tokenizer", cfg, tensors, dtype, 5, validate_config, check_tensors)


def read_tokenizer_bundle(path):
    """-> (config, float32 tensors, dtype names)."""
    return read_kind_bundle(path, "tokenizer", validate_config, check_tensors)


def convert(checkpoint, output, config=None, dtype="F32", source=None, extra_inputs=()):
    cfg = validate_config(config or ref.NBP_UCF_CONFIG)
    text_option("--source", source)
    check_output(output, [checkpoint, *extra_inputs])
    try:
        pt = load_pt(checkpoint)
    except PtError as e:
        raise ConvertError(str(e))
    tensors, dropped = tokenizer_tensors(pick_state_dict(pt.obj, STATE_KEYS))
    write_tokenizer_bundle(output, cfg, tensors, dtype, source)
    return tensors, dropped


def main(argv=None):
    return tokenizer_converter_main(
        "convert_nbp", __doc__, argv, "JSON file with the tokenizer config (default: NBP's UCF-101 tokenizer)",
        lambda args, cfg, source, extra: convert(args.checkpoint, args.output, cfg, args.dtype.upper(), source,
                                                 extra_inputs=extra))


if __name__ == "__main__":
    sys.exit(main())
