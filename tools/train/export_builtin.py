"""Export the trained built-in model (models/train/*.pt) to the bundle par-video ships (models/builtin/).

Only through the converters a published checkpoint takes: the tokenizer through
convert_nbp (NBP layout), each GPT through convert_par (PAR/LlamaGen layout).
Kernels and matrices are stored as F16 (norms and FSQ stay F32); the whole
bundle must stay under 40 MB.

    python3 -m tools.train.export_builtin                  # models/train -> models/builtin
    python3 -m tools.train.export_builtin --parallel 1 4   # only some GPTs
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from types import SimpleNamespace

from tools.convert import convert_nbp
from tools.convert import convert_par
from tools.convert.pt_reader import load_pt
from tools.train.encoder_digest import encoder_digest

HERE = os.path.dirname(os.path.abspath(__file__))
LIMIT_BYTES = 40 * 1000 * 1000


def load_compact(path: str) -> dict:
    """A compact training file, read with the restricted unpickler."""
    obj = load_pt(path).obj
    if not isinstance(obj, dict) or "config" not in obj or "model" not in obj:
        raise SystemExit(f"export_builtin: {path}: not a compact training file (needs 'model' and 'config')")
    return obj


def compact_info(path: str) -> tuple[dict, int]:
    """(config, steps) of a compact training file."""
    obj = load_compact(path)
    return obj["config"], int(obj.get("steps", 0))


def check_encoders(tokenizer: str, gpts: list[str]):
    """Every GPT must have been trained on tokens of the encoder that ships: a GPT compact records
    the digest of its token files' encoder; one that differs from the tokenizer's is refused."""
    digest = encoder_digest(load_compact(tokenizer)["model"])
    for path in gpts:
        found = load_compact(path).get("encoder")
        if found is None:
            print(f"export_builtin: warning: {path} does not record the encoder of its tokens")
        elif found != digest:
            raise SystemExit(f"export_builtin: {path} was trained on tokens of encoder {found}, {tokenizer} has "
                             f"encoder {digest}: encode the clips with this tokenizer and train the GPTs on them")


def export_tokenizer(src: str, dst: str):
    cfg, steps = compact_info(src)
    cfg = {k: cfg[k] for k in ("in_channels", "embed_dim", "fsq_levels", "norm_groups", "norm_eps", "kernel",
                               "encoder", "decoder", "frames", "size")}
    convert_nbp.convert(src, dst, cfg, "F16", f"par-video built-in tokenizer, SynthAction-101, {steps} steps")
    print(f"tokenizer: {src} ({steps} steps) -> {dst}")


def export_gpt(src: str, dst: str, sampling: dict):
    cfg, steps = compact_info(src)
    with open(os.path.join(HERE, "..", "ucf101_classes.txt")) as f:
        names = [line.strip() for line in f if line.strip()]
    args = SimpleNamespace(
        cube=list(cfg["cube"]), parallel=int(cfg["parallel"]), rope=cfg["rope"], size=None,
        heads=int(cfg["n_head"]), kv_heads=cfg.get("n_kv_head"), classes=int(cfg["num_classes"]),
        multiple_of=int(cfg["multiple_of"]), ffn_dim_multiplier=cfg.get("ffn_dim_multiplier"), dtype="f16",
        actions_list=names, cfg=sampling["cfg_scale"], top_k=sampling["top_k"], top_p=sampling["top_p"],
        temperature=sampling["temperature"],
        source=f"par-video built-in GPT (n={cfg['parallel']}), SynthAction-101, {steps} steps")
    convert_par.convert(src, dst, args, log=sys.stdout)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", default="models/train", help="folder with tokenizer.pt and gpt_n{1,4,16}.pt")
    ap.add_argument("--out", default="models/builtin")
    ap.add_argument("--parallel", type=int, nargs="*", default=[1, 4, 16])
    ap.add_argument("--cfg", type=float, default=2.0, help="default CFG scale stored in the GPT bundles")
    ap.add_argument("--top-k", type=int, default=0, help="default top-k (0 = whole vocabulary)")
    ap.add_argument("--temperature", type=float, default=1.0)
    a = ap.parse_args(argv)
    sampling = {"temperature": a.temperature, "cfg_scale": a.cfg, "top_k": a.top_k, "top_p": 1.0}
    check_encoders(os.path.join(a.train, "tokenizer.pt"), [os.path.join(a.train, f"gpt_n{n}.pt") for n in a.parallel])
    os.makedirs(a.out, exist_ok=True)
    # Write into a temporary folder first: a failed export leaves the shipped bundle intact.
    tmp = tempfile.mkdtemp(dir=a.out, prefix=".export-")
    names = ["tokenizer.safetensors"] + [f"gpt_n{n}.safetensors" for n in a.parallel]
    export_tokenizer(os.path.join(a.train, "tokenizer.pt"), os.path.join(tmp, names[0]))
    for n, name in zip(a.parallel, names[1:]):
        export_gpt(os.path.join(a.train, f"gpt_n{n}.pt"), os.path.join(tmp, name), sampling)
    for name in names:
        os.replace(os.path.join(tmp, name), os.path.join(a.out, name))
    os.rmdir(tmp)
    total = sum(os.path.getsize(os.path.join(a.out, f)) for f in os.listdir(a.out) if f.endswith(".safetensors"))
    print(f"{a.out}: {total / 1e6:.1f} MB in all (limit {LIMIT_BYTES / 1e6:.0f} MB)")
    if total > LIMIT_BYTES:
        raise SystemExit(f"export_builtin: {a.out} is {total / 1e6:.1f} MB, over the {LIMIT_BYTES / 1e6:.0f} MB limit")
    print(json.dumps({"files": sorted(os.listdir(a.out))}))


if __name__ == "__main__":
    main()
