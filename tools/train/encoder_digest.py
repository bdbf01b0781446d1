"""A short fingerprint of a tokenizer's encoder weights, carried from the tokenizer through
the token files into the GPTs.

Token cubes are only meaningful to the encoder that made them: a GPT trained on tokens of
one encoder and shipped beside another tokenizer draws noise. Every compact tokenizer file,
every token file and every GPT compact records this digest, and encoding, GPT training and
export refuse to mix two of them. Numpy only, so the torch-free exporter can check it too.
"""
from __future__ import annotations

import hashlib

import numpy as np

ENCODER_PREFIX = "encoder_layers."


def encoder_digest(state) -> str:
    """sha256 (first 16 hex digits) over the encoder's tensors in name order, as float32.
    `state` maps names to numpy arrays or torch tensors (detached)."""
    h = hashlib.sha256()
    names = sorted(k for k in state if k.startswith(ENCODER_PREFIX))
    if not names:
        raise ValueError("no encoder tensors (names starting with 'encoder_layers.') in this state")
    for name in names:
        v = state[name]
        if hasattr(v, "detach"):
            v = v.detach().float().cpu().numpy()
        a = np.ascontiguousarray(np.asarray(v, dtype=np.float32))
        h.update(name.encode())
        h.update(np.asarray(a.shape, np.int64).tobytes())
        h.update(a.astype("<f4").tobytes())
    return h.hexdigest()[:16]


def chunk_encoder(path: str) -> str:
    """The encoder digest a token file records ("" for files written before digests)."""
    with np.load(path) as d:
        return str(d["encoder"]) if "encoder" in d.files else ""


def check_chunk(path: str, digest: str):
    """A token file already on disk must come from the encoder that is encoding now."""
    found = chunk_encoder(path)
    if found != digest:
        raise SystemExit(f"encode_synthaction: {path} was encoded by encoder {found or '(unrecorded)'}, the "
                         f"tokenizer now has {digest}: move the token folder away and encode again")
