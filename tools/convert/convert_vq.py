#!/usr/bin/env python3
"""LlamaGen VQ image tokenizer checkpoint (vq_ds16_c2i.pt) -> par-video "vq2d" bundle.

    python3 -m tools.convert.convert_vq vq_ds16_c2i.pt -o vq.safetensors [--dtype bf16] [--image-size 384]
    python3 -m tools.convert.convert_vq other.pt -o vq.safetensors --config cfg.json

Reads the .pt without torch (tools/convert/pt_reader.py: nothing in the file runs).
Takes `model` (or `state_dict` / `ema`, or a bare state dict), strips a DDP
`module.` prefix, keeps the tokenizer's tensors (encoder.*, decoder.*,
quant_conv, post_quant_conv, quantize.embedding.weight) and drops the rest
(quantize.codebook_used, a training buffer; discriminators, optimizer state).
The config is VQ-16's (vq2d_reference.VQ16_CONFIG) unless --config names a
JSON file; every tensor is then checked against the shapes it implies.
Convolution kernels are stored in --dtype; biases, norm gains and the
codebook stay F32.
"""
import sys

from tools.convert import bundle
from tools.reference import vq2d_reference as ref
from tools.convert.convert_inputs import (
    ConvertError, check_config_keys, check_output, kept_tensors, pick_state_dict, read_kind_bundle,
    tokenizer_converter_main, write_kind_bundle, text_option)
from tools.convert.pt_reader import PtError, load_pt

STATE_KEYS = ("model", "state_dict", "ema")
KEPT = ("encoder.", "decoder.", "quant_conv.", "post_quant_conv.", "quantize.embedding.")
CONFIG_KEYS = tuple(ref.VQ16_CONFIG)
# VQConfig.Limits (Sources/PARVideo/ImageTokenizer/VQConfig.swift).
LIMITS = {"channels": 65_536, "levels": 8, "res_blocks": 64, "in_channels": 16, "codebook_size": 1 << 24,
          "embed_dim": 4_096, "image_size": 4_096}


def _int(what, v, lo=1, hi=bundle.INT_MAX):
    if not bundle.is_int(v) or not lo <= v <= hi:
        raise ConvertError(f"vq2d config: {what} must be an integer in {lo}...{hi}, got {v!r:.40}")
    return v


def validate_config(cfg):
    """par-video's rules for a vq2d config (VQConfig.validate), types first."""
    check_config_keys(cfg, CONFIG_KEYS, "vq2d")
    _int("codebook_size", cfg["codebook_size"], hi=LIMITS["codebook_size"])
    _int("codebook_embed_dim", cfg["codebook_embed_dim"], hi=LIMITS["embed_dim"])
    if not isinstance(cfg["codebook_l2_norm"], bool):
        raise ConvertError("vq2d config: codebook_l2_norm must be true or false")
    _int("z_channels", cfg["z_channels"], hi=LIMITS["channels"])
    _int("in_channels", cfg["in_channels"], hi=LIMITS["in_channels"])
    _int("num_res_blocks", cfg["num_res_blocks"], lo=0, hi=LIMITS["res_blocks"])
    groups = _int("norm_groups", cfg["norm_groups"], hi=LIMITS["channels"])
    bundle.check_number("vq2d config: norm_eps", cfg["norm_eps"], lo=0, lo_open=True, error=ConvertError)
    ch = _int("channels", cfg["channels"], hi=LIMITS["channels"])
    if ch % groups:
        raise ConvertError(f"vq2d config: channels {ch} must be divisible by {groups} groups")
    for key in ("encoder_ch_mult", "decoder_ch_mult"):
        mult = cfg[key]
        if not isinstance(mult, list) or not 1 <= len(mult) <= LIMITS["levels"]:
            raise ConvertError(f"vq2d config: {key} must be a list of 1...{LIMITS['levels']} integers")
        for m in mult:
            if not bundle.is_int(m) or m < 1 or ch * m > LIMITS["channels"] or (ch * m) % groups:
                raise ConvertError(f"vq2d config: {key} {mult!r:.60} times channels {ch} must give "
                                   f"1...{LIMITS['channels']} channels divisible by {groups} groups")
    size = _int("image_size", cfg["image_size"], hi=LIMITS["image_size"])
    factor = max(ref.downsample_factor(cfg), ref.upsample_factor(cfg))
    if size % factor:
        raise ConvertError(f"vq2d config: image_size must be a multiple of {factor}, got {size}")
    if cfg.get("source") is not None:
        bundle.check_text("vq2d config: source", cfg["source"], error=ConvertError)
    need, have = memory_bytes(cfg), bundle.physical_memory()
    if have is not None and need > have:
        raise ConvertError(f"vq2d config: a {size}x{size} image needs about {need / 1e9:.1f} GB of memory, "
                           f"this machine has {have / 1e9:.1f} GB")
    return cfg


def memory_bytes(cfg):
    """VQConfig.decodeBytes of the config's image plus its codebook."""
    ch, mult = cfg["channels"], cfg["decoder_ch_mult"]
    h = cfg["image_size"] // ref.downsample_factor(cfg)
    side = h * h
    largest = side * max(cfg["z_channels"], ch * mult[-1])
    for j, m in enumerate(reversed(mult)):
        after = side * 4 if j + 1 < len(mult) else side
        largest = max(largest, side * ch * m, after * ch * m)
        side = after
    d = ref.downsample_factor(cfg)
    largest = max(largest, h * h * d * d * ch * cfg["encoder_ch_mult"][0])
    return (largest * 6 + (h * h) ** 2) * 4 + cfg["codebook_size"] * cfg["codebook_embed_dim"] * 4


def check_tensors(cfg, tensors):
    shapes = ref.weight_shapes(cfg)
    emb = "quantize.embedding.weight"
    if emb in tensors and tuple(tensors[emb].shape) != shapes[emb]:
        raise ConvertError(f"codebook {emb} has shape {list(tensors[emb].shape)}, the vq2d config needs {list(shapes[emb])}")
    for name, shape in shapes.items():
        if name not in tensors:
            raise ConvertError(f"missing tensor {name} (expected shape {list(shape)}): checkpoint and config disagree")
        if tuple(tensors[name].shape) != tuple(shape):
            raise ConvertError(f"tensor {name} has shape {list(tensors[name].shape)}, expected {list(shape)}")
    extra = sorted(set(tensors) - set(shapes))
    if extra:
        raise ConvertError(f"unexpected tensor {extra[0]}" + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""))


def vq_tensors(sd):
    """Strip `module.`, keep the tokenizer's tensors -> (tensors, dropped names)."""
    out, dropped = kept_tensors(sd, KEPT)
    if "quantize.embedding.weight" not in out or not any(k.startswith("decoder.") for k in out):
        raise ConvertError("no quantize.embedding.weight / decoder.* tensors: not a LlamaGen VQ checkpoint")
    return out, dropped


def write_vq_bundle(path, cfg, tensors, dtype="F32"):
    write_kind_bundle(path, "vq2d", cfg, tensors, dtype, 4, validate_config, check_tensors)


def read_vq_bundle(path):
    """-> (config, float32 tensors, dtype names)."""
    return read_kind_bundle(path, "vq2d", validate_config, check_tensors)


def convert(checkpoint, output, config=None, dtype="F32", image_size=None, source=None, extra_inputs=()):
    cfg = dict(config or ref.VQ16_CONFIG)
    if image_size is not None:
        cfg["image_size"] = image_size
    if source is not None:
        cfg["source"] = text_option("--source", source)
    validate_config(cfg)
    check_output(output, [checkpoint, *extra_inputs])
    try:
        pt = load_pt(checkpoint)
    except PtError as e:
        raise ConvertError(str(e))
    tensors, dropped = vq_tensors(pick_state_dict(pt.obj, STATE_KEYS))
    write_vq_bundle(output, cfg, tensors, dtype)
    return tensors, dropped


def main(argv=None):
    return tokenizer_converter_main(
        "convert_vq", __doc__, argv, "JSON file with the vq2d config (default: VQ-16, as vq_ds16_c2i.pt)",
        lambda args, cfg, source, extra: convert(args.checkpoint, args.output, cfg, args.dtype.upper(),
                                                 args.image_size, source, extra_inputs=extra),
        lambda p: p.add_argument("--image-size", type=int,
                                 help="image side the GPTs were trained for (default: 384)"))


if __name__ == "__main__":
    sys.exit(main())
