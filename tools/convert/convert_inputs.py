"""What the converters (convert_par.py, convert_nbp.py, convert_vq.py) take from
outside, checked once for all: state-dict keys, config key sets, text and JSON
files named by options, the output path, the one-line error exit; and the one
writer and reader of a tokenizer-kind bundle.
"""
import argparse
import json
import os
import signal
import stat
import sys
import threading

import numpy as np

from tools.convert import bundle
from tools.convert.pt_reader import PtError, TensorRef, one_line

# Files named by options (class names, a tokenizer config) are small; a cap
# keeps `--actions /dev/zero` from reading forever.
TEXT_FILE_CAP = 1 << 20
# Nesting of a JSON file: a tokenizer config is 3 deep; par-video's JSON
# reader, and Python's, give up far below what a hostile file can nest.
JSON_MAX_DEPTH = 16


class ConvertError(ValueError):
    pass


class ArgumentParser(argparse.ArgumentParser):
    """argparse with its usage errors as one line (exit 2, as par-video's)."""
    def error(self, message):
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see --help)\n")


def state_dict_keys(sd, prefixes):
    """Keys as the bundle names them: wrapper prefixes (`module.`, ...) stripped
    once each, in order. -> {name: (raw key, value)}. Two raw keys that name the
    same tensor are an error, not a silent overwrite."""
    out = {}
    for raw, value in sd.items():
        if not isinstance(raw, str):
            raise ConvertError(f"state dict key of type {type(raw).__name__} is not a string")
        name = raw
        for prefix in prefixes:
            if name.startswith(prefix):
                name = name[len(prefix):]
        if name in out:
            raise ConvertError(f"state dict keys {out[name][0]!r:.100} and {raw!r:.100} both name tensor {name!r:.100}")
        out[name] = (raw, value)
    return out


def pick_state_dict(obj, keys):
    """The weights of a loaded checkpoint: the first of `keys` that holds a dict,
    else the object itself when it is a non-empty dict of arrays."""
    if isinstance(obj, dict):
        for key in keys:
            if isinstance(obj.get(key), dict):
                return obj[key]
        if obj and all(isinstance(v, (np.ndarray, TensorRef)) for v in obj.values()):
            return obj
    names = ", ".join(f"'{k}'" for k in keys[:-1]) + f" or '{keys[-1]}'"
    raise ConvertError(f"no weights: expected a dict with {names}, or a bare state dict")


def kept_tensors(sd, kept):
    """Strip `module.`, keep the float tensors whose names start with one of
    `kept` -> (tensors, dropped raw keys)."""
    out, dropped = {}, []
    for bare, (raw, value) in state_dict_keys(sd, ("module.",)).items():
        if bare.startswith(kept) and isinstance(value, np.ndarray):
            out[bare] = float_tensor(bare, value)
        else:
            dropped.append(raw)
    return out, dropped


def check_config_keys(cfg, keys, kind):
    """A config's shape before its values: a JSON object with every key of `keys`,
    no other key except an optional 'source'."""
    if not isinstance(cfg, dict):
        raise ConvertError(f"{kind} config must be a JSON object, got a {type(cfg).__name__}")
    for key in keys:
        if key not in cfg:
            raise ConvertError(f"{kind} config: missing key '{key}'")
    extra = sorted(str(k) for k in cfg if k not in keys and k != "source")
    if extra:
        raise ConvertError(f"{kind} config: unknown key {extra[0]!r:.40}")


def write_kind_bundle(path, kind, cfg, tensors, dtype, kernel_ndim, validate, check):
    """Write a bundle of `kind`: `validate(cfg)` and `check(cfg, tensors)` first, the
    convolution kernels (arrays of `kernel_ndim` dimensions) in `dtype`, the rest F32."""
    if dtype not in ("F32", "F16", "BF16"):
        raise ConvertError(f"weight dtype must be F32, F16 or BF16, got {dtype}")
    validate(cfg)
    check(cfg, tensors)
    dtypes = {k: (dtype if np.ndim(v) == kernel_ndim else "F32") for k, v in tensors.items()}
    bundle.check_weights(tensors, dtypes)
    bundle.write_safetensors(path, tensors, {"par_video": bundle.metadata_json(kind, cfg)}, dtypes)


def read_kind_bundle(path, kind, validate, check):
    """-> (config, float32 tensors, dtype names) of a bundle of `kind`, checked as written."""
    tensors, meta, dtypes = bundle.read_safetensors(path)
    try:
        info = bundle.bundle_info(path, meta, kind)
    except bundle.BundleError as e:
        raise ConvertError(str(e))
    cfg = validate(info["config"])
    check(cfg, tensors)
    return cfg, {k: np.asarray(v, dtype=np.float32) for k, v in tensors.items()}, dtypes


def float_tensor(name, value):
    """A floating-point tensor (F16/F32/F64; BF16 arrives as F32) -> float32; a
    TensorRef (pt_reader.open_pt) -> a FloatTensor, read as float32 when written."""
    if isinstance(value, TensorRef):
        if value.dtype.kind != "f":
            raise ConvertError(f"tensor {name} has dtype {value.dtype}, not floating point")
        return FloatTensor(name, value)
    if not isinstance(value, np.ndarray):
        raise ConvertError(f"{name}: not a tensor ({type(value).__name__})")
    if value.dtype.kind != "f":
        raise ConvertError(f"tensor {name} has dtype {value.dtype}, not floating point")
    with np.errstate(over="ignore", invalid="ignore"):
        out = value.astype(np.float32, copy=False)
    if value.dtype.itemsize > 4 and np.isfinite(value).all() and not np.isfinite(out).all():
        raise ConvertError(f"tensor {name} holds values beyond float32's range")
    return out


class FloatTensor:
    """A checkpoint tensor not yet read (bundle.is_deferred): its shape now, its
    data as float32, checked by float_tensor, when the bundle writer asks."""
    dtype = np.dtype(np.float32)

    def __init__(self, name, ref):
        self.name, self.ref, self.shape, self.ndim = name, ref, ref.shape, ref.ndim

    def read(self):
        return float_tensor(self.name, self.ref.read())


def describe_keys(keys):
    """Top-level checkpoint keys for a log line, whatever their type."""
    return [k if isinstance(k, str) else f"<{type(k).__name__}>" for k in keys]


def read_text(path, what):
    """A small UTF-8 text file (a pipe such as `<(...)` is fine) -> str."""
    with open(path, "rb") as f:
        if stat.S_ISDIR(os.fstat(f.fileno()).st_mode):
            raise ConvertError(f"{what} {path}: is a directory")
        data = f.read(TEXT_FILE_CAP + 1)
    if len(data) > TEXT_FILE_CAP:
        raise ConvertError(f"{what} {path}: more than {TEXT_FILE_CAP} bytes")
    if b"\0" in data:
        raise ConvertError(f"{what} {path}: a binary file, not text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConvertError(f"{what} {path}: not UTF-8 text (byte {e.start})")


def read_names(path):
    """One class name a line; blank lines skipped, names stripped."""
    return [line.strip() for line in read_text(path, "--actions").splitlines() if line.strip()]


def load_json(path, what):
    """A JSON file: strict JSON (no NaN/Infinity), no duplicate keys, bounded nesting."""
    text = read_text(path, what)

    def no_constant(c):
        raise ConvertError(f"{what} {path}: {c} is not JSON")

    def pairs(items):
        d = {}
        for k, v in items:
            if k in d:
                raise ConvertError(f"{what} {path}: key {k!r:.80} appears twice in one object")
            d[k] = v
        return d
    if _bracket_depth(text) > JSON_MAX_DEPTH:
        raise ConvertError(f"{what} {path}: nested deeper than {JSON_MAX_DEPTH} levels")
    try:
        obj = json.loads(text, parse_constant=no_constant, object_pairs_hook=pairs)
    except (ValueError, RecursionError) as e:
        if isinstance(e, ConvertError):
            raise
        raise ConvertError(f"{what} {path}: not JSON ({str(e)[:120]})")
    return obj


def _bracket_depth(text):
    """Deepest bracket nesting outside strings: checked before parsing, so a
    file of a million '[' never reaches the recursive parser."""
    depth = deepest = 0
    in_str = esc = False
    for c in text:
        if in_str:
            if esc:
                esc = False
            elif c == "\\":
                esc = True
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth -= 1
    return deepest


def check_output(out, inputs):
    """Before any work: the output may be a new name or a regular file, not
    one of the inputs, in an existing folder, with a temporary name that fits."""
    try:
        st = os.stat(out)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise ConvertError(f"-o {out}: {e.strerror}")
    if st is not None:
        if not stat.S_ISREG(st.st_mode):
            raise ConvertError(f"-o {out}: exists and is not a regular file")
        for i in inputs:
            if i and os.path.exists(i) and os.path.samefile(i, out):
                raise ConvertError(f"-o {out}: is the input {i}; it would be replaced")
    parent = os.path.dirname(out) or "."
    if not os.path.isdir(parent):
        raise ConvertError(f"-o {out}: folder {parent} does not exist")
    try:
        name_max = os.pathconf(parent, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    tmp = os.path.basename(bundle.temp_name(out))
    if len(os.fsencode(tmp)) > name_max:
        raise ConvertError(f"-o {out}: the name is too long (its temporary name {tmp[:40]}... "
                           f"exceeds {name_max} bytes)")


def text_option(what, value):
    """Free text from the command line stored in the bundle (--source)."""
    return None if value is None else bundle.check_text(what, value, error=ConvertError)


class _Signal(BaseException):
    def __init__(self, signum):
        self.signum = signum


def shown_path(path):
    """A path as text for a bundle's config: bytes that are not UTF-8 shown as U+FFFD."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _raise_signal(signum, frame):
    raise _Signal(signum)


def run_main(prog, body):
    """Run body() -> exit status; every failure is one line on stderr and a
    non-zero status. TERM and HUP unwind like Ctrl-C, so the bundle writer's
    cleanup removes its temporary file."""
    main_thread = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.signal(sig, _raise_signal) for sig in (signal.SIGTERM, signal.SIGHUP)} if main_thread else {}
    try:
        return body()
    except (ConvertError, bundle.BundleError, PtError, OSError) as e:
        print(f"{prog}: error: {one_line(e)}", file=sys.stderr)
    except MemoryError:
        print(f"{prog}: error: out of memory", file=sys.stderr)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; nothing written", file=sys.stderr)
        return 130
    except _Signal as s:
        print(f"{prog}: stopped by signal {s.signum}; nothing written", file=sys.stderr)
        return 128 + s.signum
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 1


def tokenizer_converter_main(prog, doc, argv, config_help, convert_call, add_options=None):
    """The command line both tokenizer converters share: a checkpoint, `-o`, an optional JSON
    config, the kernels' dtype and a source note; `add_options(parser)` adds a converter's own.
    `convert_call(args, cfg, source, extra_inputs)` converts and returns (tensors, dropped names)."""
    p = ArgumentParser(prog=prog, description=doc.split("\n\n")[0])
    p.add_argument("checkpoint")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--config", help=config_help)
    if add_options:
        add_options(p)
    p.add_argument("--dtype", choices=("f32", "f16", "bf16"), default="f32", help="dtype of the conv kernels")
    p.add_argument("--source", help="free text stored in the config")
    args = p.parse_args(argv)

    def body():
        cfg = load_json(args.config, "--config") if args.config else None
        source = args.source or f"converted from {shown_path(args.checkpoint)}"
        tensors, dropped = convert_call(args, cfg, source, [args.config] if args.config else [])
        n = sum(v.size for v in tensors.values())
        shown = ", ".join(map(str, dropped[:3])) + (", ..." if len(dropped) > 3 else "")
        print(f"{args.output}: {len(tensors)} tensors, {n / 1e6:.1f}M parameters, kernels {args.dtype}; "
              f"dropped {len(dropped)} entries" + (f" ({shown})" if dropped else ""))
        return 0
    return run_main(prog, body)
