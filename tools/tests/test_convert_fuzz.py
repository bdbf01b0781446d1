"""Property-based fuzzing of the converters (hypothesis): whatever the
checkpoint, options or config, a converter either writes a bundle that reads
back valid or prints one error line and writes nothing; the .pt reader
raises PtError and nothing else.

A few seconds by default. A longer run, checking each bundle written with
the par-video binary too:
    PAR_FUZZ_EXAMPLES=3000 PAR_FUZZ_BINARY=1 python3 -m pytest -q tools/tests/test_convert_fuzz.py
"""
import contextlib
import io
import json
import os
import subprocess
import tempfile
import zipfile

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is not installed (pip install hypothesis)")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from tools.convert import bundle  # noqa: E402
from tools.convert import convert_nbp  # noqa: E402
from tools.convert import convert_par  # noqa: E402
from tools.fixtures import make_engine_fixtures as mef  # noqa: E402
from tools.convert import pt_reader  # noqa: E402
from tools.tests.paths import FIXTURES, TOOLS  # noqa: E402
from tools.tests.ptwriter import Tensor, pickle_bytes, write_pt  # noqa: E402

EXAMPLES = int(os.environ.get("PAR_FUZZ_EXAMPLES", "40"))
LONG = "PAR_FUZZ_EXAMPLES" in os.environ
BINARY = os.path.join(TOOLS, "..", ".build", "release", "par-video")
CHECK_BINARY = os.environ.get("PAR_FUZZ_BINARY") == "1" and os.access(BINARY, os.X_OK)
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=not LONG,
                suppress_health_check=list(HealthCheck))

BASE_CFG = bundle.gpt_config(dim=32, n_layer=2, n_head=2, vocab_size=16, num_classes=3, cube=[1, 8, 8],
                             parallel=4, rope="2d", multiple_of=32)
BASE_SD = mef.random_weights(BASE_CFG, np.random.default_rng(0))
NAMES = sorted(BASE_SD)


def _run(main, argv):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = main(argv)
        except SystemExit as e:       # argparse's usage errors: status 2
            rc = e.code
    return rc, err.getvalue()


def _check_outcome(prog, rc, err, out, reader):
    hypothesis.event(f"exit status {rc}")
    folder = os.path.dirname(out)
    assert not [n for n in os.listdir(folder) if ".tmp" in n], "temporary file left behind"
    if rc != 0:
        lines = err.strip().splitlines()
        assert rc in (1, 2) and len(lines) == 1 and lines[0].startswith(f"{prog}: error: "), err
        assert not os.path.exists(out)
        return
    reader(out)                                      # the bundle reads back and validates
    if CHECK_BINARY:
        r = subprocess.run([BINARY, "inspect", out], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, f"par-video refuses a bundle the converter wrote: {r.stderr}"


# ---------------------------------------------------------------- convert_par

numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-3, 3),
                    st.sampled_from([0.0, -0.0, 1e-50, 1e39, 0.5, 1.0, 1.15, 2.0]))
ints = st.one_of(st.integers(-2, 20), st.sampled_from([2 ** 31, 2 ** 63, 2 ** 64, 10 ** 9]))


@st.composite
def tensors(draw):
    """A base tensor, or one of another rank, size or dtype, or holding NaN."""
    kind = draw(st.sampled_from(["same", "same", "shape", "dtype", "nan", "scalar"]))
    return kind, draw(st.lists(st.integers(0, 40), min_size=0, max_size=3)), \
        draw(st.sampled_from([np.float16, np.float64, np.int32, np.uint8]))


def _tensor(base, spec):
    kind, shape, dtype = spec
    if kind == "shape":
        return np.ones(shape, np.float32)
    if kind == "dtype":
        return base.astype(dtype)
    if kind == "nan":
        out = base.copy()
        out.reshape(-1)[:1] = np.nan
        return out
    if kind == "scalar":
        return np.array(1.0, np.float32)
    return base


@st.composite
def state_dicts(draw):
    """The base state dict (under a wrapper key, maybe prefixed) with up to
    three changes, none half the time, so that some runs write a bundle."""
    prefix = draw(st.sampled_from(["", "", "module.", "_orig_mod.", "module._orig_mod."]))
    sd = {prefix + k: v for k, v in BASE_SD.items()}
    for _ in range(draw(st.sampled_from([0, 0, 0, 0, 1, 1, 2, 3]))):
        name = prefix + draw(st.sampled_from(NAMES))
        action = draw(st.sampled_from(["drop", "rename", "tensor", "dup", "extra"]))
        if name not in sd:
            continue
        value = sd[name]
        if action == "drop":
            del sd[name]
        elif action == "rename":
            sd[name.replace("layers.1.", f"layers.{draw(st.sampled_from([2, 3, 10 ** 8, 10 ** 15]))}.")] = sd.pop(name)
        elif action == "tensor":
            sd[name] = _tensor(value, draw(tensors()))
        elif action == "dup":
            sd[draw(st.sampled_from(["module.", "_orig_mod."])) + name] = value
        else:
            sd[draw(st.sampled_from([7, "layers.0.attention.bias", "freqs_cis"]))] = np.zeros((4, 2), np.float32)
    wrap = draw(st.sampled_from(["model", "module", "state_dict", None]))
    return {wrap: sd, "steps": 3} if wrap else sd


def _mixed(good, bad):
    """Mostly values par-video accepts, sometimes hostile ones (hypothesis
    favours the first branch and the first element)."""
    return st.one_of(st.sampled_from(good), bad)


@st.composite
def par_options(draw):
    opts = ["--cube", *map(str, draw(st.sampled_from([[1, 8, 8], [1, 8, 8], [1, 8, 8], [2, 8, 8], [1, 4, 4],
                                                        [1, 0, 8], [1, 6, 6], [1, 2, 2]]))),
            "--rope", draw(st.sampled_from(["2d", "2d", "2d", "3d"]))]
    choices = (("--kv-heads", _mixed([2], ints)), ("--parallel", _mixed([4], ints)),
               ("--classes", _mixed([3], ints)),
               ("--ffn-dim-multiplier", _mixed([1.0, 1.3, 0.9], numbers)), ("--cfg", _mixed([0.0, 1.0, 1.15, 4.0], numbers)),
               ("--top-k", _mixed([0, 1, 16, 8000], ints)), ("--top-p", _mixed([1.0, 0.9, 1e-6], numbers)),
               ("--temperature", _mixed([1.0, 0.5, 1e-30, 3.0], numbers)))
    for flag, values in choices:
        if draw(st.sampled_from([False, False, True])):
            opts.append(f"{flag}={draw(values)}")
    if draw(st.sampled_from([True] * 9 + [False])):
        opts.append(f"--heads={draw(_mixed([2, 2, 2, 4], ints))}")
    opts.append(f"--multiple-of={draw(_mixed([32], ints))}")       # the base weights' SwiGLU size
    opts += ["--dtype", draw(st.sampled_from(["f32", "f16", "bf16"]))]
    if draw(st.sampled_from([False, False, True])):
        opts += ["--source", draw(st.one_of(st.just("converted"), st.text(max_size=20)))]
    return opts


@FUZZ
@given(obj=state_dicts(), opts=par_options(),
       names=st.one_of(st.none(), st.none(), st.just(["Walk", "Run Fast", "Jump"]), st.just(["A", "B", "C"]),
                       st.binary(max_size=40),
                       st.lists(st.text(max_size=8), max_size=4)))
def test_fuzz_convert_par(obj, opts, names):
    with tempfile.TemporaryDirectory() as d:
        write_pt(os.path.join(d, "in.pt"), obj)
        if names is not None:
            with open(os.path.join(d, "names.txt"), "wb") as f:
                f.write(names if isinstance(names, bytes) else "\n".join(names).encode("utf-8", "surrogatepass"))
            opts = opts + ["--actions", os.path.join(d, "names.txt")]
        out = os.path.join(d, "out.safetensors")
        rc, err = _run(convert_par.main, [os.path.join(d, "in.pt"), "-o", out, *opts])
        _check_outcome("convert_par", rc, err, out, bundle.read_gpt_bundle)


# ---------------------------------------------------------------- pt_reader

GOOD_PT = None


def _good_pt():
    global GOOD_PT
    if GOOD_PT is None:
        buf = io.BytesIO()
        store = np.arange(12, dtype=np.float32)
        obj = {"model": {"a": BASE_SD["norm.weight"], "v": Tensor("s", store, 2, (2, 3), (1, 2)),
                         "h": np.ones(3, np.float16)}, "steps": 5, "args": [1, "x", None, 2.5]}
        with tempfile.TemporaryDirectory() as d:
            write_pt(os.path.join(d, "g.pt"), obj)
            buf.write(open(os.path.join(d, "g.pt"), "rb").read())
        GOOD_PT = buf.getvalue()
    return GOOD_PT


def _load_bytes(data):
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "x.pt")
        with open(p, "wb") as f:
            f.write(data)
        try:
            pt_reader.load_pt(p)
        except pt_reader.PtError as e:
            assert "\n" not in str(e)


@FUZZ
@given(edits=st.lists(st.tuples(st.integers(0, 10 ** 6), st.integers(0, 255)), min_size=1, max_size=8),
       cut=st.one_of(st.none(), st.integers(0, 10 ** 6)))
def test_fuzz_pt_file_bytes(edits, cut):
    data = bytearray(_good_pt())
    for pos, value in edits:
        data[pos % len(data)] = value
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    _load_bytes(bytes(data))


@FUZZ
@given(edits=st.lists(st.tuples(st.integers(0, 10 ** 6), st.sampled_from(["set", "insert", "delete"]),
                                st.binary(min_size=1, max_size=9)), min_size=1, max_size=6))
def test_fuzz_pickle_stream(edits):
    """Mutations of data.pkl itself, repackaged in a valid zip: the restricted
    unpickler sees arbitrary opcode streams."""
    src = zipfile.ZipFile(io.BytesIO(_good_pt()))
    pkl = bytearray(src.read("archive/data.pkl"))
    for pos, op, blob in edits:
        pos %= len(pkl) + 1
        if op == "set":
            pkl[pos:pos + len(blob)] = blob
        elif op == "insert":
            pkl[pos:pos] = blob
        else:
            del pkl[pos:pos + len(blob)]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for info in src.infolist():
            z.writestr(info.filename, bytes(pkl) if info.filename == "archive/data.pkl" else src.read(info))
    _load_bytes(buf.getvalue())


# ---------------------------------------------------------------- convert_nbp

TINY_CFG = json.loads(bundle.read_safetensors(os.path.join(FIXTURES, "tokenizer", "nbp_tiny_expected.safetensors"))[1]["config"])
json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-5, 70), st.floats(allow_nan=False),
                                     st.sampled_from([2 ** 40, 10 ** 9, 0.0, 1e-5]), st.text(max_size=5)),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                                       max_size=3), max_leaves=10)


def _paths(cfg, prefix=()):
    for k, v in cfg.items():
        yield prefix + (k,)
        if isinstance(v, dict):
            yield from _paths(v, prefix + (k,))
        elif isinstance(v, list):
            for i, x in enumerate(v):
                yield prefix + (k, i)
                if isinstance(x, list):
                    for j in range(len(x)):
                        yield prefix + (k, i, j)


PATHS = list(_paths(TINY_CFG))


@FUZZ
@given(changes=st.lists(st.tuples(st.sampled_from(PATHS), st.one_of(json_values, st.integers(-1, 9))),
                        max_size=3), raw=st.one_of(st.none(), st.binary(max_size=30)))
def test_fuzz_convert_nbp_config(changes, raw):
    cfg = json.loads(json.dumps(TINY_CFG))
    for path, value in changes:
        d = cfg
        try:
            for k in path[:-1]:
                d = d[k]
            d[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            pass
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "cfg.json"), "wb") as f:
            f.write(raw if raw is not None else json.dumps(cfg).encode())
        out = os.path.join(d, "t.safetensors")
        rc, err = _run(convert_nbp.main, [os.path.join(FIXTURES, "tokenizer", "nbp_tiny.pt"), "-o", out,
                                          "--config", os.path.join(d, "cfg.json")])
        _check_outcome("convert_nbp", rc, err, out, convert_nbp.read_tokenizer_bundle)
