"""par-video bundle files: safetensors + a `par_video` metadata JSON (docs/BUNDLE.md).

Written and read here byte by byte (no torch, no ml_dtypes needed): BF16 is
float32 with the low 16 bits dropped after round-to-nearest-even.
"""
import json
import math
import os
import struct

import numpy as np

DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2"),
          "F64": np.dtype("<f8"), "I32": np.dtype("<i4"), "I64": np.dtype("<i8"),
          "U8": np.dtype("u1"), "I8": np.dtype("i1")}
HEADER_CAP = 100 * 1024 * 1024


class BundleError(ValueError):
    pass


def f32_to_bf16_bits(a):
    """float32 array -> uint16 BF16 bits, round to nearest even (NaN kept NaN)."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
    rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    nan = np.isnan(a)
    out = rounded.astype(np.uint16)
    out[nan] = ((u[nan] >> 16) | 0x40).astype(np.uint16)
    return out


def bf16_bits_to_f32(b):
    return (np.asarray(b, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def encode(array, dtype):
    """numpy array -> (raw little-endian bytes) for a safetensors dtype name."""
    if dtype == "BF16":
        return f32_to_bf16_bits(np.asarray(array, dtype=np.float32)).astype("<u2").tobytes()
    if dtype not in DTYPES:
        raise BundleError(f"unsupported dtype {dtype}")
    return np.ascontiguousarray(array, dtype=DTYPES[dtype]).tobytes()


def write_safetensors(path, tensors, metadata=None, dtypes=None):
    """tensors: name -> numpy array; dtypes: name -> safetensors dtype (default from array).

    Data is laid out widest dtype first, then by name, header padded to 8 bytes,
    so every tensor starts aligned to its element size. Deterministic bytes.
    Written to a temporary name and renamed: no partial file on failure.
    """
    dtypes = dict(dtypes or {})
    for name, a in tensors.items():
        if name not in dtypes:
            dtypes[name] = {np.dtype("float32"): "F32", np.dtype("float16"): "F16",
                            np.dtype("int32"): "I32", np.dtype("int64"): "I64",
                            np.dtype("float64"): "F64", np.dtype("uint8"): "U8",
                            np.dtype("int8"): "I8"}.get(np.asarray(a).dtype)
            if dtypes[name] is None:
                raise BundleError(f"{name}: no safetensors dtype for numpy {np.asarray(a).dtype}")
    item = {"F64": 8, "I64": 8, "F32": 4, "I32": 4, "F16": 2, "BF16": 2, "U8": 1, "I8": 1}
    names = sorted(tensors, key=lambda n: (-item[dtypes[n]], n))
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name in names:
        raw = encode(tensors[name], dtypes[name])
        header[name] = {"dtype": dtypes[name], "shape": [int(d) for d in np.shape(tensors[name])],
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    hjson = json.dumps(header, separators=(",", ":")).encode()
    hjson += b" " * (-len(hjson) % 8)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(hjson)))
            f.write(hjson)
            for raw in blobs:
                f.write(raw)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_safetensors(path, upcast=True):
    """-> (tensors, metadata, dtypes). BF16/F16 become float32 when upcast."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise BundleError(f"{path}: truncated (no header length)")
    (hlen,) = struct.unpack("<Q", data[:8])
    if hlen > HEADER_CAP or 8 + hlen > len(data):
        raise BundleError(f"{path}: header length {hlen} past the end of the file ({len(data)} bytes)")
    try:
        header = json.loads(data[8:8 + hlen])
    except ValueError as e:
        raise BundleError(f"{path}: header is not JSON ({e})")
    body = memoryview(data)[8 + hlen:]
    meta = header.pop("__metadata__", None) or {}
    tensors, dtypes, spans = {}, {}, []
    for name, info in header.items():
        dt, shape, (a, b) = info["dtype"], info["shape"], info["data_offsets"]
        if dt not in DTYPES:
            raise BundleError(f"{path}: {name}: unsupported dtype {dt}")
        nbytes = math.prod(shape) * DTYPES[dt].itemsize
        if not (0 <= a <= b <= len(body)) or b - a != nbytes:
            raise BundleError(f"{path}: {name}: offsets {a}..{b} do not fit shape {shape} {dt} in {len(body)} bytes")
        spans.append((a, b, name))
        arr = np.frombuffer(body[a:b], dtype=DTYPES[dt]).reshape(shape)
        if dt == "BF16":
            arr = bf16_bits_to_f32(arr) if upcast else arr.copy()
        elif dt == "F16" and upcast:
            arr = arr.astype(np.float32)
        else:
            arr = arr.astype(DTYPES[dt].newbyteorder("="))
        tensors[name], dtypes[name] = arr, dt
    spans.sort()
    for (a0, b0, n0), (a1, b1, n1) in zip(spans, spans[1:]):
        if a1 < b0:
            raise BundleError(f"{path}: tensors {n0} and {n1} overlap")
    return tensors, meta, dtypes


# ---------------------------------------------------------------- gpt bundles

SIZES = {"B": (12, 12, 768), "L": (24, 16, 1024), "XL": (36, 20, 1280),
         "XXL": (48, 24, 1536), "3B": (24, 32, 3200)}   # name -> (n_layer, n_head, dim)
DEFAULT_SAMPLING = {"temperature": 1.0, "cfg_scale": 1.15, "top_k": 8000, "top_p": 1.0}


def find_multiple(n, k):
    return n if n % k == 0 else n + k - n % k


def ffn_hidden(cfg):
    hidden = int(2 * 4 * cfg["dim"] / 3)
    if cfg.get("ffn_dim_multiplier") is not None:
        hidden = int(cfg["ffn_dim_multiplier"] * hidden)
    return find_multiple(hidden, cfg.get("multiple_of", 256))


def gpt_config(dim, n_layer, n_head, vocab_size, num_classes, cube, parallel, rope,
               n_kv_head=None, multiple_of=256, ffn_dim_multiplier=None, norm_eps=1e-5,
               rope_base=10000.0, sampling=None, actions=None, source=None):
    cfg = {"dim": dim, "n_layer": n_layer, "n_head": n_head, "n_kv_head": n_kv_head,
           "vocab_size": vocab_size, "num_classes": num_classes, "multiple_of": multiple_of,
           "ffn_dim_multiplier": ffn_dim_multiplier, "norm_eps": norm_eps, "rope_base": rope_base,
           "cube": list(cube), "parallel": parallel, "rope": rope,
           "sampling": dict(sampling or DEFAULT_SAMPLING)}
    if actions is not None:
        cfg["actions"] = list(actions)
    if source is not None:
        cfg["source"] = source
    validate_gpt_config(cfg)
    return cfg


def validate_gpt_config(cfg):
    """Raise BundleError naming the first problem with a gpt config."""
    def need_int(key, lo=1):
        v = cfg.get(key)
        if not isinstance(v, int) or isinstance(v, bool) or v < lo:
            raise BundleError(f"config: {key} must be an integer >= {lo}, got {v!r}")
        return v
    dim, n_head = need_int("dim"), need_int("n_head")
    need_int("n_layer"), need_int("vocab_size"), need_int("num_classes")
    if dim % n_head or (dim // n_head) % 2:
        raise BundleError(f"config: dim {dim} must split into {n_head} heads of even size")
    kv = cfg.get("n_kv_head")
    if kv is not None and (not isinstance(kv, int) or kv < 1 or n_head % kv):
        raise BundleError(f"config: n_kv_head {kv!r} must divide n_head {n_head}")
    cube = cfg.get("cube")
    if not (isinstance(cube, list) and len(cube) == 3 and all(isinstance(c, int) and c >= 1 for c in cube)):
        raise BundleError(f"config: cube must be [T, H, W] positive integers, got {cube!r}")
    n = need_int("parallel")
    s = math.isqrt(n)
    if s * s != n or cube[1] % s or cube[2] % s:
        raise BundleError(f"config: parallel {n} must be s*s with s dividing H={cube[1]} and W={cube[2]}")
    rope = cfg.get("rope")
    if rope not in ("2d", "3d"):
        raise BundleError(f"config: rope must be \"2d\" or \"3d\", got {rope!r}")
    if rope == "2d" and cube[0] != 1:
        raise BundleError(f"config: rope \"2d\" needs T = 1, cube is {cube}")
    if rope == "2d" and (dim // n_head // 2) % 2:
        raise BundleError("config: rope \"2d\" needs an even number of rotary pairs per head")
    if rope == "3d" and 3 * (dim // n_head // 2) // 8 < 1:
        raise BundleError("config: rope \"3d\" needs head_dim >= 6")
    actions = cfg.get("actions")
    if actions is not None and len(actions) != cfg["num_classes"]:
        raise BundleError(f"config: {len(actions)} actions for {cfg['num_classes']} classes")
    return cfg


def expected_shapes(cfg):
    """Official state-dict name -> shape for a gpt config (SPEC section 6)."""
    dim, L = cfg["dim"], cfg["n_layer"]
    hd = dim // cfg["n_head"]
    kv = cfg.get("n_kv_head") or cfg["n_head"]
    hidden = ffn_hidden(cfg)
    shapes = {"cls_embedding.embedding_table.weight": (cfg["num_classes"] + 1, dim),
              "tok_embeddings.weight": (cfg["vocab_size"], dim),
              "norm.weight": (dim,), "output.weight": (cfg["vocab_size"], dim)}
    if cfg["parallel"] > 1:
        shapes["spe_tok_embeddings.special_embeddings.weight"] = (cfg["parallel"] - 1, dim)
    for i in range(L):
        p = f"layers.{i}."
        shapes[p + "attention.wqkv.weight"] = ((cfg["n_head"] + 2 * kv) * hd, dim)
        shapes[p + "attention.wo.weight"] = (dim, dim)
        shapes[p + "feed_forward.w1.weight"] = (hidden, dim)
        shapes[p + "feed_forward.w3.weight"] = (hidden, dim)
        shapes[p + "feed_forward.w2.weight"] = (dim, hidden)
        shapes[p + "attention_norm.weight"] = (dim,)
        shapes[p + "ffn_norm.weight"] = (dim,)
    return shapes


def check_gpt_tensors(cfg, tensors):
    """Every expected tensor present with its shape; nothing unexpected."""
    shapes = expected_shapes(cfg)
    for name, shape in shapes.items():
        if name not in tensors:
            raise BundleError(f"missing tensor {name} (expected shape {list(shape)})")
        if tuple(np.shape(tensors[name])) != shape:
            raise BundleError(f"tensor {name} has shape {list(np.shape(tensors[name]))}, expected {list(shape)}")
    extra = sorted(set(tensors) - set(shapes))
    if extra:
        raise BundleError(f"unexpected tensor {extra[0]}" + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""))


def write_gpt_bundle(path, cfg, tensors, dtype="F32"):
    if dtype not in ("F32", "F16", "BF16"):
        raise BundleError(f"weight dtype must be F32, F16 or BF16, got {dtype}")
    validate_gpt_config(cfg)
    check_gpt_tensors(cfg, tensors)
    meta = {"par_video": json.dumps({"format": "par-video", "version": 1, "kind": "gpt", "config": cfg},
                                    sort_keys=True)}
    write_safetensors(path, tensors, meta, {k: dtype for k in tensors})


def read_gpt_bundle(path):
    """-> (config, float32 tensors, dtype names)."""
    tensors, meta, dtypes = read_safetensors(path)
    if "par_video" not in meta:
        raise BundleError(f"{path}: no par_video metadata")
    info = json.loads(meta["par_video"])
    if info.get("format") != "par-video" or info.get("kind") != "gpt":
        raise BundleError(f"{path}: not a par-video gpt bundle")
    cfg = validate_gpt_config(info["config"])
    check_gpt_tensors(cfg, tensors)
    return cfg, {k: np.asarray(v, dtype=np.float32) for k, v in tensors.items()}, dtypes
