"""par-video bundle files: safetensors + a `par_video` metadata JSON (docs/BUNDLE.md).

Written and read here byte by byte (no torch, no ml_dtypes needed): BF16 is
float32 with the low 16 bits dropped after round-to-nearest-even.
"""
import json
import math
import os
import stat
import struct

import numpy as np

DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2"),
          "F64": np.dtype("<f8"), "I32": np.dtype("<i4"), "I64": np.dtype("<i8"),
          "U8": np.dtype("u1"), "I8": np.dtype("i1")}
# par-video's safetensors limits (InputLimits.swift): header bytes, tensors, dimensions.
HEADER_CAP = 100_000_000
MAX_TENSORS = 100_000
MAX_DIMS = 32


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


def _encoded(array, dtype):
    """numpy array -> contiguous array holding its little-endian bytes as a safetensors dtype."""
    if dtype == "BF16":
        return f32_to_bf16_bits(np.asarray(array, dtype=np.float32)).astype("<u2", copy=False)
    if dtype not in DTYPES:
        raise BundleError(f"unsupported dtype {dtype}")
    return np.ascontiguousarray(array, dtype=DTYPES[dtype])


def encode(array, dtype):
    """numpy array -> (raw little-endian bytes) for a safetensors dtype name."""
    return _encoded(array, dtype).tobytes()


def temp_name(path):
    """The name write_safetensors links its finished file to before renaming onto `path`."""
    return f"{path}.tmp{os.getpid()}"


def remove_stale_temps(path):
    """Removes `path`.tmp<pid> files left by a converter that was killed (SIGKILL, power loss)
    where no cleanup could run; a name whose process still runs is left alone."""
    folder, base = os.path.split(path)
    prefix = base + ".tmp"
    try:
        names = os.listdir(folder or ".")
    except OSError:
        return
    for name in names:
        if not name.startswith(prefix):
            continue
        pid = name[len(prefix):]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
            continue                                # alive (or another user's): not debris
        except ProcessLookupError:
            pass
        except (PermissionError, OverflowError):
            continue
        stale = os.path.join(folder, name)
        if os.path.isfile(stale) and not os.path.islink(stale):
            os.unlink(stale)


def _link_unnamed(fd, name):
    """linkat(2) of an O_TMPFILE descriptor through /proc with AT_SYMLINK_FOLLOW (a plain
    os.link would link the /proc entry itself); a dir fd makes os.link call linkat."""
    proc = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.link(str(fd), name, src_dir_fd=proc, follow_symlinks=True)
    finally:
        os.close(proc)


def _open_unnamed(folder):
    """An unnamed file in `folder` (Linux O_TMPFILE): a run killed while writing leaves
    nothing on disk. None where the system or file system has no such files."""
    flag = getattr(os, "O_TMPFILE", 0)
    if not flag or not os.path.isdir("/proc/self/fd"):
        return None
    try:
        return os.open(folder or ".", flag | os.O_WRONLY, 0o666)
    except OSError:
        return None


ITEM_BYTES = {"F64": 8, "I64": 8, "F32": 4, "I32": 4, "F16": 2, "BF16": 2, "U8": 1, "I8": 1}
_FROM_NUMPY = {np.dtype("float32"): "F32", np.dtype("float16"): "F16", np.dtype("int32"): "I32",
               np.dtype("int64"): "I64", np.dtype("float64"): "F64", np.dtype("uint8"): "U8", np.dtype("int8"): "I8"}
# Elements encoded and checked at a time: what writing a tensor holds besides the tensor.
CHUNK = 1 << 20


def free_bytes(folder):
    """Bytes an unprivileged writer may still use in `folder`'s file system, or None."""
    try:
        st = os.statvfs(folder)
    except (OSError, AttributeError):
        return None
    return st.f_bavail * st.f_frsize


def is_deferred(value):
    """A tensor given as an object with `shape` and `read()` (pt_reader.TensorRef and
    wrappers of it), read only when its data is written."""
    return not isinstance(value, np.ndarray) and callable(getattr(value, "read", None))


def _value_dtype(value):
    return np.dtype(value.dtype) if hasattr(value, "dtype") else np.asarray(value).dtype


def _write_data(f, array, dtype):
    """Encode and write `array` CHUNK elements at a time -> bytes written."""
    flat = np.ascontiguousarray(array).reshape(-1)
    written = 0
    for i in range(0, flat.size, CHUNK):
        raw = _encoded(flat[i:i + CHUNK], dtype)
        f.write(raw)
        written += raw.nbytes
    return written


def write_safetensors(path, tensors, metadata=None, dtypes=None, check=None):
    """tensors: name -> numpy array, or a deferred tensor (is_deferred: read once,
    when its data is written); dtypes: name -> safetensors dtype (default from the
    array's); check(name, array, dtype): run on each array before it is written.

    Data is laid out widest dtype first, then by name, header padded to 8 bytes,
    so every tensor starts aligned to its element size. Deterministic bytes.
    The header comes from shapes alone and is written first; then one tensor at
    a time is read, checked, encoded in chunks and written, so writing holds one
    tensor. Written to a temporary name and renamed: no partial file on failure.
    """
    dtypes = dict(dtypes or {})
    for name, a in tensors.items():
        if name not in dtypes:
            dtypes[name] = _FROM_NUMPY.get(_value_dtype(a))
            if dtypes[name] is None:
                raise BundleError(f"{name}: no safetensors dtype for numpy {_value_dtype(a)}")
        if dtypes[name] not in ITEM_BYTES:
            raise BundleError(f"unsupported dtype {dtypes[name]}")
    names = sorted(tensors, key=lambda n: (-ITEM_BYTES[dtypes[n]], n))
    header, spans, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name in names:
        shape = tuple(int(d) for d in np.shape(tensors[name]))
        if len(shape) > MAX_DIMS:
            raise BundleError(f"{name}: {len(shape)} dimensions, more than the {MAX_DIMS} par-video reads")
        nbytes = math.prod(shape) * ITEM_BYTES[dtypes[name]]
        header[name] = {"dtype": dtypes[name], "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        spans.append((name, shape, nbytes))
        offset += nbytes
    hjson = json.dumps(header, separators=(",", ":")).encode()
    hjson += b" " * (-len(hjson) % 8)
    if len(hjson) > HEADER_CAP:
        raise BundleError(f"{path}: header of {len(hjson)} bytes, more than the {HEADER_CAP} par-video reads")
    if len(names) > MAX_TENSORS:
        raise BundleError(f"{path}: {len(names)} tensors, more than the {MAX_TENSORS} par-video reads")
    size, free = 8 + len(hjson) + offset, free_bytes(os.path.dirname(path) or ".")
    if free is not None and size > free:      # known before the first byte: fail now, not after minutes of writing
        raise BundleError(f"{path}: the bundle takes {size / 1e9:.2f} GB, the disk has {free / 1e9:.2f} GB free")
    remove_stale_temps(path)
    tmp = temp_name(path)
    fd = _open_unnamed(os.path.dirname(path))
    unnamed = fd is not None
    if not unnamed:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)    # never follows a planted link
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(hjson)))
            f.write(hjson)
            for name, shape, nbytes in spans:
                value = tensors[name]
                a = np.asarray(value.read() if is_deferred(value) else value)
                if a.shape != shape:
                    raise BundleError(f"{name}: read as shape {list(a.shape)}, declared {list(shape)}")
                if check is not None:
                    check(name, a, dtypes[name])
                if _write_data(f, a, dtypes[name]) != nbytes:
                    raise BundleError(f"{name}: encoded size differs from {nbytes} bytes")
                del a
            f.flush()
            if unnamed:     # named only now, complete, for the rename (link fails on an existing name)
                _link_unnamed(f.fileno(), tmp)
        os.replace(tmp, path)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def read_safetensors(path, upcast=True):
    """-> (tensors, metadata, dtypes). BF16/F16 become float32 when upcast.
    Every field of the header is checked before it is used: one BundleError."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)      # a FIFO would block a plain open()
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise BundleError(f"{path}: not a regular file")
        os.set_blocking(fd, True)
        data = f.read()
    if len(data) < 8:
        raise BundleError(f"{path}: truncated (no header length)")
    (hlen,) = struct.unpack("<Q", data[:8])
    if hlen > HEADER_CAP or 8 + hlen > len(data):
        raise BundleError(f"{path}: header length {hlen} past the end of the file ({len(data)} bytes)"
                          if hlen <= HEADER_CAP else f"{path}: header length {hlen} over the {HEADER_CAP}-byte limit")
    try:
        header = json.loads(data[8:8 + hlen])
    except (ValueError, RecursionError) as e:
        raise BundleError(f"{path}: header is not JSON ({str(e)[:120]})")
    if not isinstance(header, dict):
        raise BundleError(f"{path}: header is not a JSON object")
    if len(header) > MAX_TENSORS + 1:
        raise BundleError(f"{path}: {len(header)} header entries, more than the {MAX_TENSORS} tensors allowed")
    body = memoryview(data)[8 + hlen:]
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise BundleError(f"{path}: __metadata__ must map names to strings")
    tensors, dtypes, spans = {}, {}, []
    for name, info in header.items():
        if not (isinstance(info, dict) and isinstance(info.get("dtype"), str) and isinstance(info.get("shape"), list)
                and isinstance(info.get("data_offsets"), list) and len(info["data_offsets"]) == 2):
            raise BundleError(f"{path}: {name[:100]}: entry needs dtype, shape and two data_offsets")
        dt, shape, (a, b) = info["dtype"], info["shape"], info["data_offsets"]
        if dt not in DTYPES:
            raise BundleError(f"{path}: {name[:100]}: unsupported dtype {dt[:20]}")
        if len(shape) > MAX_DIMS or not all(is_int(d) and 0 <= d <= INT_MAX for d in shape):
            raise BundleError(f"{path}: {name[:100]}: shape must be at most {MAX_DIMS} sizes >= 0")
        if not (is_int(a) and is_int(b)):
            raise BundleError(f"{path}: {name[:100]}: data_offsets must be integers")
        nbytes = math.prod(shape) * DTYPES[dt].itemsize
        if not (0 <= a <= b <= len(body)) or b - a != nbytes:
            raise BundleError(f"{path}: {name[:100]}: offsets {a}..{b} do not fit shape {shape} {dt} "
                              f"in {len(body)} bytes")
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
            raise BundleError(f"{path}: tensors {n0[:100]} and {n1[:100]} overlap")
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
               rope_base=10000.0, sampling=None, actions=None, source=None, image_size=None):
    cfg = {"dim": dim, "n_layer": n_layer, "n_head": n_head, "n_kv_head": n_kv_head,
           "vocab_size": vocab_size, "num_classes": num_classes, "multiple_of": multiple_of,
           "ffn_dim_multiplier": ffn_dim_multiplier, "norm_eps": norm_eps, "rope_base": rope_base,
           "cube": list(cube), "parallel": parallel, "rope": rope,
           "sampling": dict(sampling or DEFAULT_SAMPLING)}
    if actions is not None:
        cfg["actions"] = list(actions)
    if source is not None:
        cfg["source"] = source
    if image_size is not None:
        cfg["image_size"] = image_size
    validate_gpt_config(cfg)
    return cfg


# Bounds of par-video's Swift types: sizes are Int (64-bit), sampling values,
# norm_eps and rope_base Float (float32) and ffn_dim_multiplier Double. A value
# outside them would make a bundle par-video cannot load.
INT_MAX = (1 << 63) - 1
FLOAT32_MAX = float(np.finfo(np.float32).max)
# GPTConfig.Limits: far above any PAR model, low enough that par-video's size
# products fit an Int.
GPT_LIMITS = {"dim": 65_536, "n_layer": 4_096, "vocab_size": 1 << 24, "num_classes": 1 << 24,
              "cube_side": 4_096, "tokens": 1 << 24, "multiple_of": 65_536, "ffn_dim_multiplier": 64.0}


def physical_memory():
    """Bytes of RAM (InputLimits.memoryBytes): a bundle whose decode needs more
    is refused by par-video on this machine."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return None
SAMPLING_KEYS = ("temperature", "cfg_scale", "top_k", "top_p")


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def check_number(what, v, lo=None, lo_open=False, hi=None, float32=True, error=None):
    """A finite JSON number (int or float) in range -> float; else `error` (BundleError)
    naming `what`. float32: it must also be finite, and non-zero when lo_open at 0,
    as a Swift Float."""
    error = error or BundleError
    rng = (f"{'>' if lo_open else '>='} {lo:g}" if lo is not None else "") + \
          (f"{' and ' if lo is not None else ''}<= {hi:g}" if hi is not None else "")
    msg = f"{what} must be a finite number{' ' + rng if rng else ''}, got {v!r:.40}"
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise error(msg)
    try:
        f = float(v)
    except OverflowError:
        raise error(msg)
    if not math.isfinite(f) or (float32 and abs(f) > FLOAT32_MAX):
        raise error(msg)
    if float32 and f != 0 and np.float32(f) == 0:     # par-video's JSON decoder refuses a Float that underflows
        raise error(msg + " (rounds to 0 as float32)")
    if lo is not None and (f < lo or (lo_open and (f == lo or (float32 and np.float32(f) == lo)))):
        raise error(msg)
    if hi is not None and f > hi:
        raise error(msg)
    return f


def check_text(what, v, error=None):
    """A string that encodes as UTF-8 (no lone surrogates, which a non-UTF-8
    command line yields) and holds no control characters."""
    error = error or BundleError
    if not isinstance(v, str):
        raise error(f"{what} must be a string, got a {type(v).__name__}")
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        raise error(f"{what} is not valid UTF-8 text")
    if any((ord(c) < 32 and c != "\t") or 127 <= ord(c) < 160 or c in "\u2028\u2029" for c in v):
        raise error(f"{what} holds control characters")
    return v


def validate_gpt_config(cfg):
    """Raise BundleError naming the first problem with a gpt config. The rules
    are par-video's (GPTConfig.validate and the sampler's option checks), or
    stricter where noted."""
    if not isinstance(cfg, dict):
        raise BundleError(f"config must be a JSON object, got a {type(cfg).__name__}")

    def need_int(key, lo=1):
        v = cfg.get(key)
        if not is_int(v) or not lo <= v <= INT_MAX:
            raise BundleError(f"config: {key} must be an integer >= {lo}, got {v!r:.40}")
        return v
    dim, n_head = need_int("dim"), need_int("n_head")
    need_int("n_layer"), need_int("vocab_size"), need_int("num_classes")
    for key in ("dim", "n_layer", "vocab_size", "num_classes"):
        if cfg[key] > GPT_LIMITS[key]:
            raise BundleError(f"config: {key} {cfg[key]} is beyond par-video's limit {GPT_LIMITS[key]}")
    if dim % n_head or (dim // n_head) % 2:
        raise BundleError(f"config: dim {dim} must split into {n_head} heads of even size")
    kv = cfg.get("n_kv_head")
    if kv is not None and (not is_int(kv) or kv < 1 or n_head % kv):
        raise BundleError(f"config: n_kv_head {kv!r:.40} must divide n_head {n_head}")
    if need_int("multiple_of") > GPT_LIMITS["multiple_of"]:
        raise BundleError(f"config: multiple_of must be in 1...{GPT_LIMITS['multiple_of']}, got {cfg['multiple_of']}")
    mult = cfg.get("ffn_dim_multiplier")
    if mult is not None:
        check_number("config: ffn_dim_multiplier", mult, lo=0, lo_open=True, hi=GPT_LIMITS["ffn_dim_multiplier"],
                     float32=False)
        h = int(2 * 4 * dim / 3) * float(mult)
        if not 1 <= h < 2 ** 62:      # Swift's Int(m * h) traps beyond Int
            raise BundleError(f"config: ffn_dim_multiplier {mult} gives a SwiGLU hidden size of {h:g}")
    for key, default in (("norm_eps", 1e-5), ("rope_base", 10000.0)):
        check_number(f"config: {key}", cfg.get(key, default), lo=0, lo_open=True)
    cube = cfg.get("cube")
    if not (isinstance(cube, list) and len(cube) == 3 and all(is_int(c) and 1 <= c <= INT_MAX for c in cube)):
        raise BundleError(f"config: cube must be [T, H, W] positive integers, got {cube!r:.80}")
    if max(cube) > GPT_LIMITS["cube_side"] or cube[0] * cube[1] * cube[2] > GPT_LIMITS["tokens"]:
        raise BundleError(f"config: cube {cube} is beyond par-video's limits (sides <= {GPT_LIMITS['cube_side']}, "
                          f"at most {GPT_LIMITS['tokens']} tokens)")
    n = need_int("parallel")
    s = math.isqrt(n)
    if s * s != n or cube[1] % s or cube[2] % s:
        raise BundleError(f"config: parallel {n} must be s*s with s dividing H={cube[1]} and W={cube[2]}")
    if n > 1 and cube[0] * cube[1] * cube[2] < 2 * n:
        raise BundleError(f"config: cube {cube} is too small for parallel {n}")
    rope = cfg.get("rope")
    if rope not in ("2d", "3d"):
        raise BundleError(f"config: rope must be \"2d\" or \"3d\", got {rope!r:.40}")
    if rope == "2d" and cube[0] != 1:
        raise BundleError(f"config: rope \"2d\" needs T = 1, cube is {cube}")
    if rope == "2d" and (dim // n_head // 2) % 2:      # stricter than par-video: halves split evenly
        raise BundleError("config: rope \"2d\" needs an even number of rotary pairs per head")
    if rope == "3d" and dim // n_head < 8:
        raise BundleError("config: rope \"3d\" needs head_dim >= 8")
    validate_sampling(cfg.get("sampling", {}))
    actions = cfg.get("actions")
    if actions is not None:
        if not isinstance(actions, list):
            raise BundleError(f"config: actions must be a list of names, got a {type(actions).__name__}")
        if len(actions) != cfg["num_classes"]:
            raise BundleError(f"config: {len(actions)} actions for {cfg['num_classes']} classes")
        for i, a in enumerate(actions):
            if not check_text(f"config: action {i}", a).strip():
                raise BundleError(f"config: action {i} is empty")
        if len(set(actions)) != len(actions):     # stricter than par-video: a name picks one class
            dup = next(a for i, a in enumerate(actions) if a in actions[:i])
            raise BundleError(f"config: action name {dup!r:.80} appears twice")
    if cfg.get("source") is not None:
        check_text("config: source", cfg["source"])
    size = cfg.get("image_size")
    if size is not None and not (is_int(size) and 1 <= size <= 4096 and cube[0] == 1 and cube[1] == cube[2]
                                 and size % cube[1] == 0):
        raise BundleError(f"config: image_size {size!r:.40} must be a multiple of H = W in 1...4096 "
                          f"for a 1 x H x W cube, cube is {cube}")
    need, have = decode_bytes(cfg), physical_memory()
    if have is not None and need > have:
        raise BundleError(f"config: decoding one clip needs about {need / 1e9:.1f} GB of memory, "
                          f"this machine has {have / 1e9:.1f} GB")
    return cfg


def decode_bytes(cfg, batch=1, threads=1):
    """GPTConfig.decodeBytes: what a decode allocates besides the weights (KV
    cache, workspace, logits, tokens, order, sampler scratch)."""
    n, N = cfg["parallel"], cfg["cube"][0] * cfg["cube"][1] * cfg["cube"][2]
    hd = cfg["dim"] // cfg["n_head"]
    kv_dim = (cfg.get("n_kv_head") or cfg["n_head"]) * hd
    max_len = N + n
    seqs = batch * (2 if cfg.get("sampling", {}).get("cfg_scale", 1.15) != 1 else 1)
    rows = seqs * n
    cache = seqs * max_len * kv_dim * cfg["n_layer"] * 2
    row_floats = 4 * cfg["dim"] + 2 * kv_dim + 2 * ffn_hidden(cfg) + hd
    workspace = rows * row_floats + max(8, threads) * n * max_len
    floats = cache + workspace + batch * n * cfg["vocab_size"] + batch * 2 * N + 5 * N + threads * 4 * cfg["vocab_size"]
    return floats * 4


def validate_sampling(sampling):
    """The sampling defaults a bundle carries, with par-video's option rules:
    temperature > 0, cfg_scale >= 0, top_k >= 0 (0 keeps all), top_p in (0, 1]."""
    if not isinstance(sampling, dict):
        raise BundleError(f"config: sampling must be an object, got a {type(sampling).__name__}")
    extra = sorted(str(k) for k in sampling if k not in SAMPLING_KEYS)
    if extra:
        raise BundleError(f"config: unknown sampling key {extra[0]!r:.40} (known: {', '.join(SAMPLING_KEYS)})")
    if "temperature" in sampling:
        check_number("sampling: temperature", sampling["temperature"], lo=0, lo_open=True)
    if "cfg_scale" in sampling:
        check_number("sampling: cfg_scale", sampling["cfg_scale"], lo=0)
    if "top_p" in sampling:
        check_number("sampling: top_p", sampling["top_p"], lo=0, lo_open=True, hi=1)
    if "top_k" in sampling:
        k = sampling["top_k"]
        if not is_int(k) or not 0 <= k <= INT_MAX:
            raise BundleError(f"sampling: top_k must be an integer >= 0 (0 keeps all), got {k!r:.40}")
    return sampling


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
    # 7 tensors a layer: a config naming more layers than the tensors could
    # hold is refused before its names are listed (n_layer may be 10^9).
    if 7 * cfg["n_layer"] > len(tensors):
        raise BundleError(f"config: {cfg['n_layer']} layers need {7 * cfg['n_layer']} layer tensors, "
                          f"there are {len(tensors)} tensors in all")
    shapes = expected_shapes(cfg)
    for name, shape in shapes.items():
        if name not in tensors:
            raise BundleError(f"missing tensor {name} (expected shape {list(shape)})")
        if tuple(np.shape(tensors[name])) != shape:
            raise BundleError(f"tensor {name} has shape {list(np.shape(tensors[name]))}, expected {list(shape)}")
    extra = sorted(set(tensors) - set(shapes))
    if extra:
        raise BundleError(f"unexpected tensor {extra[0]}" + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""))


F16_MAX = 65504.0


def check_weights(tensors, dtypes):
    """check_weight on every tensor, by name."""
    for name in sorted(tensors):
        check_weight(name, tensors[name], dtypes[name])


def check_weight(name, a, dt):
    """A weight is finite and stays finite in its stored dtype `dt`: NaN or Inf
    weights give a clip of garbage tokens, and F16 overflows past 65504.
    Checked CHUNK elements at a time (no full-size temporaries); rounding is
    monotonic, so BF16 overflows exactly when the largest magnitude does."""
    a = np.asarray(a)
    if a.dtype.kind != "f":
        raise BundleError(f"tensor {name} has dtype {a.dtype}, not floating point")
    flat = np.ascontiguousarray(a).reshape(-1)
    big = 0.0
    for i in range(0, flat.size, CHUNK):
        with np.errstate(over="ignore", invalid="ignore"):
            c32 = flat[i:i + CHUNK].astype(np.float32, copy=False)
        if not np.isfinite(c32).all():
            raise BundleError(f"tensor {name} holds NaN or Inf" +
                              (" (beyond float32's range)" if np.isfinite(a).all() else ""))
        big = max(big, float(np.abs(c32).max()))
    if dt == "F16" and big > F16_MAX:
        raise BundleError(f"tensor {name} holds {big:g}, beyond the F16 range (65504): use f32 or bf16")
    if dt == "BF16" and not np.isfinite(bf16_bits_to_f32(f32_to_bf16_bits(np.float32([big])))).all():
        raise BundleError(f"tensor {name} holds {big:g}, which rounds to Inf in BF16: use f32")


def metadata_json(kind, cfg):
    """The `par_video` metadata string; strict JSON (NaN is not JSON, and par-video refuses it)."""
    try:
        return json.dumps({"format": "par-video", "version": 1, "kind": kind, "config": cfg},
                          sort_keys=True, allow_nan=False)
    except (ValueError, TypeError) as e:
        raise BundleError(f"{kind} config cannot be stored as JSON ({e})")


def write_gpt_bundle(path, cfg, tensors, dtype="F32"):
    """tensors: arrays or deferred tensors (is_deferred), each read, checked and
    written in turn."""
    if dtype not in ("F32", "F16", "BF16"):
        raise BundleError(f"weight dtype must be F32, F16 or BF16, got {dtype}")
    validate_gpt_config(cfg)
    check_gpt_tensors(cfg, tensors)
    dtypes = {k: dtype for k in tensors}
    write_safetensors(path, tensors, {"par_video": metadata_json("gpt", cfg)}, dtypes, check=check_weight)


def bundle_info(path, meta, kind):
    """The `par_video` metadata object of a bundle of `kind`, checked."""
    if "par_video" not in meta:
        raise BundleError(f"{path}: no par_video metadata")
    try:
        info = json.loads(meta["par_video"])
    except (ValueError, RecursionError) as e:
        raise BundleError(f"{path}: par_video metadata is not JSON ({str(e)[:120]})")
    if not isinstance(info, dict) or info.get("format") != "par-video" or info.get("kind") != kind:
        raise BundleError(f"{path}: not a par-video {kind} bundle")
    if not isinstance(info.get("config"), dict):
        raise BundleError(f"{path}: {kind} bundle has no config object")
    return info


def read_gpt_bundle(path):
    """-> (config, float32 tensors, dtype names)."""
    tensors, meta, dtypes = read_safetensors(path)
    info = bundle_info(path, meta, "gpt")
    cfg = validate_gpt_config(info["config"])
    check_gpt_tensors(cfg, tensors)
    return cfg, {k: np.asarray(v, dtype=np.float32) for k, v in tensors.items()}, dtypes
