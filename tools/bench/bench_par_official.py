#!/usr/bin/env python3
"""The peer for `par-video bench --config par-xl|par-xxl|par-3b`: the official PAR code in PyTorch.

Local only: needs torch and a checkout of github.com/YuqingWang1029/PAR (not in
this repository; its autoregressive/models/gpt.py and generate.py and
tokenizer/tokenizer_image/vq_model.py are imported from DIR, never copied):

    python3 -m tools.bench.bench_par_official --official DIR --size XL --threads 2 --json-out runs/bench/par_official_xl.json

Builds one GPT (GPT_XL, GPT_XXL or GPT_3B: 1000 classes, 24 x 24 tokens,
vocabulary 16384, random init) per n of --parallel, one at a time, and
LlamaGen's VQ-16 once; generates one image with CFG (batch [cond, uncond], top-k
0, top-p 1, temperature 1: the paper's sampling) through the official
generate() (n = 4, 16) or its prefill and decode_n_tokens (n = 1, the sequential
LlamaGen loop, which generate() cannot run), then decodes it to 384 x 384 with
decode_code; fp32, then bf16 as PAR's sample_c2i.py runs it (the GPT cast to
bfloat16 with .to(dtype), the VQ model left in fp32). Prints one JSON line per (n, mode)
with seconds for tokens and for the VQ decode; --json-out writes them all as
one JSON object for BENCHMARKS.md beside `par-video bench`.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import sys
import time

SIZES = ("XL", "XXL", "3B")
# The paper's CFG scale per model (docs/CONVERTING.md).
CFG = {"XL": 1.5, "XXL": 1.435, "3B": 1.345, "tiny": 1.5}
# A few-layer stand-in for tests: GPT and VQ small enough to run in seconds.
TINY_GPT = {"n_layer": 2, "n_head": 4, "dim": 64}
TINY_VQ = {"codebook_size": 64, "ch": 32, "ch_mult": [1, 2], "z_channels": 32, "num_res_blocks": 1}


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


class Official:
    """The checkout's modules, imported from its root."""

    def __init__(self, root):
        for rel in ("autoregressive/models/gpt.py", "autoregressive/models/generate.py", "tokenizer/tokenizer_image/vq_model.py"):
            if not os.path.isfile(os.path.join(root, rel)):
                raise SystemExit(f"error: --official {root}: no {rel} (give the root of a PAR checkout)")
        sys.path.insert(0, root)  # gpt.py imports utils.drop_path from the root
        self.gpt = load(os.path.join(root, "autoregressive/models/gpt.py"), "official_gpt")
        self.gen = load(os.path.join(root, "autoregressive/models/generate.py"), "official_generate")
        self.vq = load(os.path.join(root, "tokenizer/tokenizer_image/vq_model.py"), "official_vq_model")

    def model(self, size, n, grid, vocab, layers=None):
        kw = dict(num_classes=1000, vocab_size=vocab, block_size=grid * grid, cls_token_num=1,
                  ar_token_num=n, spe_token_num=n - 1)
        if size == "tiny":
            args = dict(TINY_GPT)
            if layers:
                args["n_layer"] = layers
            m = self.gpt.Transformer(self.gpt.ModelArgs(**args, **kw))
        else:
            m = getattr(self.gpt, "GPT_" + size)(**kw)
            if layers:
                raise SystemExit("error: --layers is for --size tiny (the full-size layouts are the published ones)")
        return m.eval()

    def tokenizer(self, size):
        if size != "tiny":
            return self.vq.VQ_16().eval()
        t = TINY_VQ
        m = self.vq.VQModel(self.vq.ModelArgs(codebook_size=t["codebook_size"], encoder_ch_mult=t["ch_mult"],
                                              decoder_ch_mult=t["ch_mult"], z_channels=t["z_channels"]))
        m.decoder = self.vq.Decoder(ch=t["ch"], ch_mult=t["ch_mult"], z_channels=t["z_channels"], num_res_blocks=t["num_res_blocks"])
        return m.eval()

    def tokens(self, model, cond, n, count, cfg):
        """`count` tokens per image in PAR order: generate() for n > 1, LlamaGen's loop for n = 1."""
        import torch
        sampling = dict(temperature=1.0, top_k=0, top_p=1.0, sample_logits=True)
        if n > 1:
            return self.gen.generate(model, cond, count, cfg_scale=cfg, ar_token_num=n, spe_token_num=n - 1, **sampling)
        null = torch.ones_like(cond) * model.num_classes
        with torch.device(cond.device):
            model.setup_caches(max_batch_size=2 * len(cond), max_seq_length=1 + count, dtype=model.tok_embeddings.weight.dtype)
        first = self.gen.prefill(model, torch.cat([cond, null]), torch.arange(0, 1), cfg, **sampling)
        rest, _ = self.gen.decode_n_tokens(model, first, torch.tensor([1], dtype=torch.int), count - 1, cfg, -1, **sampling)
        return torch.cat([first] + rest, dim=1)


def run(a):
    import torch
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    off = Official(a.official)
    grid = a.grid
    vq = off.tokenizer(a.size)
    cfg = CFG[a.size] if a.cfg is None else a.cfg
    rows = []
    for n in a.parallel:
        model = off.model(a.size, n, grid, a.vocab, a.layers)
        params = sum(t.numel() for t in model.parameters())
        for mode in a.modes:
            if mode == "bf16":
                model.to(torch.bfloat16)  # as sample_c2i.py's --precision bf16; fp32 runs first
            cond = torch.tensor([a.cls], dtype=torch.long)
            with torch.inference_mode():
                t0 = time.perf_counter()
                seq = off.tokens(model, cond, n, grid * grid, cfg)
                tokens_s = time.perf_counter() - t0
                # The grid in raster order does not change the decode's cost; PAR order is decoded as is.
                codes = seq[:1].reshape(-1).long().clamp_(0, vq.config.codebook_size - 1)
                t0 = time.perf_counter()
                image = vq.decode_code(codes.unsqueeze(0), [1, vq.config.codebook_embed_dim, grid, grid])
                decode_s = time.perf_counter() - t0
            row = {"peer": "official PAR, pytorch " + torch.__version__, "size": a.size, "parallel": n, "mode": mode,
                   "threads": a.threads, "batch": 1, "cfg_scale": cfg, "parameters": params, "tokens": int(seq.shape[1]),
                   "tokens_seconds": round(tokens_s, 3), "decode_seconds": round(decode_s, 3), "vq_dtype": "fp32",
                   "seconds_per_image": round(tokens_s + decode_s, 3), "image": list(image.shape[-2:]),
                   "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}
            print(json.dumps(row), flush=True)
            rows.append(row)
        del model  # one GPT at a time: a 3B model in fp32 is 12.4 GB
    return {"schema": 1, "peer": rows[0]["peer"] if rows else None, "size": a.size, "threads": a.threads, "rows": rows}


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--official", required=True, help="root of a PAR checkout (imported from, never copied)")
    p.add_argument("--size", default="XL", choices=SIZES + ("tiny",), help="GPT_XL, GPT_XXL, GPT_3B; tiny: a test stand-in")
    p.add_argument("--parallel", type=int, nargs="+", default=[1, 4, 16], choices=[1, 4, 16])
    p.add_argument("--modes", default="fp32,bf16", help="comma list of fp32, bf16 (the GPT's weights cast, as sample_c2i.py)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--class", dest="cls", type=int, default=207)
    p.add_argument("--cfg", type=float, help="default: the paper's for --size")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--grid", type=int, default=24, help="tokens per side (24: 384 x 384 through VQ-16)")
    p.add_argument("--vocab", type=int, default=16384)
    p.add_argument("--layers", type=int, help="--size tiny only: layers of the stand-in")
    p.add_argument("--json-out", help="also write every row as one JSON object here")
    a = p.parse_args(argv)
    modes = [m for m in a.modes.split(",") if m]
    if not modes or any(m not in ("fp32", "bf16") for m in modes):
        p.error("--modes: a comma list of fp32, bf16")
    a.modes = [m for m in ("fp32", "bf16") if m in modes]
    if a.threads < 1:
        p.error("--threads must be at least 1")
    if a.size == "tiny" and a.vocab > TINY_VQ["codebook_size"]:
        a.vocab = TINY_VQ["codebook_size"]  # the stand-in's GPT draws codes of its VQ
    for n in a.parallel:
        if n > 1 and (int(n ** 0.5) ** 2 != n or a.grid % int(n ** 0.5)):
            p.error(f"--parallel {n}: needs a square n whose side divides --grid {a.grid}")
    return a


def main(argv=None):
    a = parse(argv)
    result = run(a)
    if a.json_out:
        tmp = a.json_out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")
        os.replace(tmp, a.json_out)


if __name__ == "__main__":
    main()
