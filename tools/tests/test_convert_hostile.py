"""Hostile checkpoints and option values for convert_par.py and convert_nbp.py:
each is one line on stderr, exit 1, no traceback and no file written."""
import json
import os
import signal
import time

import numpy as np
import pytest

from tools.convert import bundle
from tools.convert import convert_inputs
from tools.convert import convert_nbp
from tools.convert import convert_par
from tools.reference import magvit2_reference as ref
from tools.fixtures import make_engine_fixtures as mef
from tools.tests.paths import FIXTURES
from tools.tests.ptwriter import write_pt

CUBE = ("--cube", "1", "8", "8", "--rope", "2d")


def _sd():
    cfg = bundle.gpt_config(dim=32, n_layer=2, n_head=2, vocab_size=16, num_classes=3, cube=[1, 8, 8],
                            parallel=4, rope="2d")
    return mef.random_weights(cfg, np.random.default_rng(0))


def _one_line_error(capsys, rc, out, expect):
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert rc == 1, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert expect in lines[0], err
    assert not os.path.exists(out) and not any(".tmp" in n for n in os.listdir(os.path.dirname(out)))


def _par(tmp_path, obj, *extra, opts=("--heads", "2")):
    write_pt(tmp_path / "in.pt", obj)
    out = str(tmp_path / "out.safetensors")
    return convert_par.main([str(tmp_path / "in.pt"), "-o", out, *CUBE, *opts, *extra]), out


def _edit(**changes):
    sd = _sd()
    for k, v in changes.items():
        k = k.replace("__", ".")
        if v is None:
            del sd[k]
        else:
            sd[k] = v
    return sd


@pytest.mark.parametrize("sd,expect", [
    (_edit(tok_embeddings__weight=np.zeros(16, np.float32)), "tok_embeddings.weight has shape [16], expected 2"),
    (_edit(cls_embedding__embedding_table__weight=np.array(3.0, np.float32)), "expected 2 dimensions"),
    (_edit(layers__0__attention__wqkv__weight=np.zeros(3, np.float32)), "wqkv.weight has shape [3]"),
    (_edit(spe_tok_embeddings__special_embeddings__weight=np.zeros(3, np.float32)), "special_embeddings"),
    (_edit(layers__0__attention__wqkv__weight=np.zeros((33, 32), np.float32)), "33 rows"),
    (_edit(cls_embedding__embedding_table__weight=np.zeros((1, 32), np.float32)), "needs at least one class"),
    ({**_sd(), 7: np.zeros(2, np.float32)}, "key of type int is not a string"),
    ({**_sd(), ("a", 1): np.zeros(2, np.float32)}, "key of type tuple is not a string"),
    ({**_sd(), "module.norm.weight": np.ones(32, np.float32)}, "both name tensor 'norm.weight'"),
    ({**_sd(), "_orig_mod.output.weight": np.ones((16, 32), np.float32)}, "both name tensor 'output.weight'"),
    ({**_sd(), "layers.100000000.attention.wqkv.weight": np.zeros((96, 32), np.float32)},
     "layer 2 is missing (highest index 100000000)"),
    (_edit(layers__0__attention_norm__weight=np.arange(32)), "has dtype int64, not floating point"),
    (_edit(norm__weight=np.full(32, np.nan, np.float32)), "norm.weight holds NaN or Inf"),
    (_edit(norm__weight=np.full(32, 1e300)), "beyond float32"),
])
def test_bad_tensors_and_keys(tmp_path, capsys, sd, expect):
    t0 = time.monotonic()
    rc, out = _par(tmp_path, {"model": sd})
    _one_line_error(capsys, rc, out, expect)
    assert time.monotonic() - t0 < 10           # a huge layer index used to loop, memory growing


@pytest.mark.parametrize("argv", [
    ["in.pt", "-o", "out.safetensors", "--cube", "1", "8", "8", "--rope", "2d", "--source", "-x"],   # found by fuzzing
    ["in.pt", "-o", "out.safetensors", "--cube", "1", "8", "--rope", "2d"],
    ["in.pt", "--cube", "1", "8", "8", "--rope", "4d"],
])
def test_usage_errors_are_one_line(capsys, argv):
    with pytest.raises(SystemExit) as e:
        convert_par.main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and len(err.strip().splitlines()) == 1 and err.startswith("convert_par: error: "), err


def test_layer_gap_is_an_error(tmp_path, capsys):
    sd = {k.replace("layers.1.", "layers.2."): v for k, v in _sd().items()}
    rc, out = _par(tmp_path, {"model": sd})
    _one_line_error(capsys, rc, out, "layer 1 is missing")


@pytest.mark.parametrize("cube,expect", [
    (("1", "8192", "8"), "beyond par-video's limits (sides <= 4096"),
    (("1", "4096", "4096"), "decoding one clip needs about 19.8 GB of memory, this machine has 8.0 GB"),
])
def test_cube_beyond_par_videos_limits(tmp_path, capsys, monkeypatch, cube, expect):
    monkeypatch.setattr(bundle, "physical_memory", lambda: 8_000_000_000)
    rc, out = _par(tmp_path, {"model": _sd()}, "--cube", *cube)
    _one_line_error(capsys, rc, out, expect)


def test_f16_overflow_is_an_error(tmp_path, capsys):
    sd = _edit(norm__weight=np.full(32, 1e6, np.float32))
    rc, out = _par(tmp_path, {"model": sd}, "--dtype", "f16")
    _one_line_error(capsys, rc, out, "beyond the F16 range")


@pytest.mark.parametrize("opts,expect", [
    (("--heads", "2", "--multiple-of", "0"), "--multiple-of must be an integer >= 1, got 0"),
    (("--heads", "0"), "--heads must be an integer >= 1"),
    (("--heads", "-2"), "--heads must be an integer >= 1"),
    (("--heads", "2", "--kv-heads", "0"), "--kv-heads must be an integer >= 1"),
    (("--heads", "2", "--parallel", "0"), "--parallel must be an integer >= 1"),
    (("--heads", "2", "--classes", "0"), "--classes must be an integer >= 1"),
    (("--heads", "2", "--ffn-dim-multiplier", "inf"), "--ffn-dim-multiplier must be a finite number > 0"),
    (("--heads", "2", "--ffn-dim-multiplier", "nan"), "--ffn-dim-multiplier must be a finite number > 0"),
    (("--heads", "2", "--ffn-dim-multiplier", "-1"), "--ffn-dim-multiplier must be a finite number > 0"),
    (("--heads", "2", "--ffn-dim-multiplier", "1e-30"), "SwiGLU hidden size"),
    (("--heads", "2", "--cfg", "nan"), "--cfg must be a finite number >= 0"),
    (("--heads", "2", "--cfg", "inf"), "--cfg must be a finite number >= 0"),
    (("--heads", "2", "--cfg=-1"), "--cfg must be a finite number >= 0"),
    (("--heads", "2", "--cfg", "1e39"), "--cfg must be a finite number"),          # beyond Float
    (("--heads", "2", "--cfg", "1e-50"), "rounds to 0 as float32"),     # found by fuzzing: par-video refused the bundle
    (("--heads", "2", "--temperature", "0"), "--temperature must be a finite number > 0"),
    (("--heads", "2", "--temperature", "1e-50"), "--temperature must be a finite number > 0"),   # 0 as Float
    (("--heads", "2", "--temperature", "nan"), "--temperature must be a finite number > 0"),
    (("--heads", "2", "--top-k=-1"), "--top-k must be an integer >= 0"),
    (("--heads", "2", "--top-k", str(2 ** 64)), "--top-k must be an integer >= 0"),               # beyond Int
    (("--heads", "2", "--top-p", "0"), "--top-p must be a finite number > 0 and <= 1"),
    (("--heads", "2", "--top-p", "1.5"), "--top-p must be a finite number > 0 and <= 1"),
    (("--heads", "2", "--top-p", "nan"), "--top-p must be a finite number > 0 and <= 1"),
    (("--heads", "2", "--source", "bad \udcff byte"), "--source is not valid UTF-8"),
    (("--heads", "2", "--ffn-dim-multiplier", "65"), "ffn_dim_multiplier must be a finite number > 0 and <= 64"),
    (("--heads", "2", "--multiple-of", "65537"), "multiple_of must be in 1...65536"),
    (("--heads", "2", "--source", "a\x07b"), "--source holds control characters"),
])
def test_bad_option_values(tmp_path, capsys, opts, expect):
    rc, out = _par(tmp_path, {"model": _sd()}, opts=opts)
    _one_line_error(capsys, rc, out, expect)


@pytest.mark.parametrize("content,expect", [
    (b"\xff\xfe\x00a\x00b\n", "a binary file, not text"),
    (b"Walk\nRun\n\xe9t\xe9\n", "not UTF-8 text"),
    (b"a\nb\n", "2 actions for 3 classes"),
    (b"a\nb\na\n", "action name 'a' appears twice"),
    (b"a\nb\x1b[31m\nc\n", "holds control characters"),
])
def test_bad_actions_file(tmp_path, capsys, content, expect):
    (tmp_path / "names.txt").write_bytes(content)
    rc, out = _par(tmp_path, {"model": _sd()}, "--actions", str(tmp_path / "names.txt"))
    _one_line_error(capsys, rc, out, expect)


def test_actions_from_a_device_is_bounded(tmp_path, capsys):
    rc, out = _par(tmp_path, {"model": _sd()}, "--actions", "/dev/zero")
    _one_line_error(capsys, rc, out, "more than")


def test_output_paths(tmp_path, capsys):
    write_pt(tmp_path / "in.pt", {"model": _sd()})
    src = str(tmp_path / "in.pt")
    before = open(src, "rb").read()
    rc = convert_par.main([src, "-o", src, *CUBE, "--heads", "2"])          # would replace its own input
    assert rc == 1 and "is the input" in capsys.readouterr().err and open(src, "rb").read() == before
    (tmp_path / "adir").mkdir()
    rc = convert_par.main([src, "-o", str(tmp_path / "adir"), *CUBE, "--heads", "2"])
    assert rc == 1 and "not a regular file" in capsys.readouterr().err
    rc = convert_par.main([src, "-o", str(tmp_path / ("x" * 250)), *CUBE, "--heads", "2"])
    assert rc == 1 and "name is too long" in capsys.readouterr().err
    rc = convert_par.main([src, "-o", str(tmp_path / "no" / "m.safetensors"), *CUBE, "--heads", "2"])
    assert rc == 1 and "does not exist" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["adir", "in.pt"]


def test_sigterm_while_writing_leaves_nothing(tmp_path, capsys, monkeypatch):
    """TERM between writing the temporary file and renaming it: exit 143, no
    temporary left, an existing output untouched."""
    write_pt(tmp_path / "in.pt", {"model": _sd()})
    out = tmp_path / "out.safetensors"
    out.write_bytes(b"old")
    real_replace = os.replace

    def replace(a, b):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1)                             # the handler runs here
        real_replace(a, b)
    monkeypatch.setattr(bundle.os, "replace", replace)
    rc = convert_par.main([str(tmp_path / "in.pt"), "-o", str(out), *CUBE, "--heads", "2"])
    assert rc == 128 + signal.SIGTERM and "stopped by signal" in capsys.readouterr().err
    assert out.read_bytes() == b"old" and sorted(os.listdir(tmp_path)) == ["in.pt", "out.safetensors"]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


KILLED_WRITER = """
import os, sys, time
import numpy as np
from tools.convert import bundle

class Slow:                      # a deferred tensor: the writer is mid-file when it reads the second
    shape, dtype = (1 << 18,), np.float32
    def read(self):
        open(sys.argv[2], "w").close()
        time.sleep(60)
        return np.zeros(self.shape, np.float32)

bundle.write_safetensors(sys.argv[1], {"a": np.ones(1 << 18, np.float32), "b": Slow()})
"""


def test_sigkill_while_writing_leaves_nothing(tmp_path):
    """KILL cannot be caught, so no cleanup runs: the file being written has no name until it
    is complete (O_TMPFILE), and the existing output stays as it was."""
    import subprocess, sys
    if not hasattr(os, "O_TMPFILE"):
        pytest.skip("no O_TMPFILE on this system")
    out, ready = tmp_path / "out" / "m.safetensors", tmp_path / "ready"
    out.parent.mkdir()
    out.write_bytes(b"old")
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(out), str(ready)],
                            cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    deadline = time.time() + 60
    while not ready.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert ready.exists(), "the writer did not reach its second tensor"
    proc.kill()
    proc.wait()
    assert os.listdir(out.parent) == ["m.safetensors"] and out.read_bytes() == b"old"


def test_stale_temporaries_of_dead_runs_are_removed(tmp_path):
    """A temporary name left by a killed run (a file system without O_TMPFILE, or a kill between
    naming and renaming) goes on the next write to that path; one of a live process stays."""
    import subprocess, sys
    out = tmp_path / "m.safetensors"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / f"m.safetensors.tmp{dead.pid}").write_bytes(b"debris")
        (tmp_path / f"m.safetensors.tmp{live.pid}").write_bytes(b"in flight")
        (tmp_path / "other.safetensors.tmp1").write_bytes(b"not ours")
        bundle.write_safetensors(str(out), {"a": np.ones(4, np.float32)})
        assert sorted(os.listdir(tmp_path)) == sorted(["m.safetensors", f"m.safetensors.tmp{live.pid}",
                                                       "other.safetensors.tmp1"])
    finally:
        live.kill()
        live.wait()


def test_writes_without_unnamed_files(tmp_path, monkeypatch):
    """Where O_TMPFILE is missing, the named temporary path writes the same bytes."""
    tensors = {"a": np.arange(6, dtype=np.float32).reshape(2, 3)}
    bundle.write_safetensors(str(tmp_path / "x.safetensors"), tensors)
    monkeypatch.setattr(bundle, "_open_unnamed", lambda folder: None)
    bundle.write_safetensors(str(tmp_path / "y.safetensors"), tensors)
    assert (tmp_path / "x.safetensors").read_bytes() == (tmp_path / "y.safetensors").read_bytes()
    assert sorted(os.listdir(tmp_path)) == ["x.safetensors", "y.safetensors"]


# ---------------------------------------------------------------- convert_nbp

def _tiny_cfg():
    return json.loads(bundle.read_safetensors(os.path.join(FIXTURES, "tokenizer", "nbp_tiny_expected.safetensors"))[1]["config"])


def _nbp(tmp_path, config_text, *, state=None):
    pt = os.path.join(FIXTURES, "tokenizer", "nbp_tiny.pt")
    if state is not None:
        write_pt(tmp_path / "in.pt", state)
        pt = str(tmp_path / "in.pt")
    args = [pt, "-o", str(tmp_path / "t.safetensors")]
    if config_text is not None:
        (tmp_path / "cfg.json").write_text(config_text)
        args += ["--config", str(tmp_path / "cfg.json")]
    return convert_nbp.main(args), str(tmp_path / "t.safetensors")


def _cfg_with(path, value):
    cfg = _tiny_cfg()
    d = cfg
    for k in path[:-1]:
        d = d[k]
    if value is KeyError:
        del d[path[-1]]
    else:
        d[path[-1]] = value
    return json.dumps(cfg)


BAD_CONFIGS = [
    ("[" * 100000 + "]" * 100000, "nested deeper than"),
    ('{"a": ' * 50000 + "1" + "}" * 50000, "nested deeper than"),
    (_cfg_with(["norm_eps"], "NaN").replace('"NaN"', "NaN"), "NaN is not JSON"),
    ('{"kernel": 3, "kernel": 5}', "key 'kernel' appears twice"),
    ("{not json", "not JSON"),
    ("[1, 2]", "must be a JSON object"),
    (_cfg_with(["fsq_levels"], "abcd"), "fsq_levels must be a list of integers >= 2"),
    (_cfg_with(["fsq_levels"], [8, 5, 5, 1]), "fsq_levels must be a list of integers >= 2"),
    (_cfg_with(["fsq_levels"], [8.0, 5, 5, 5]), "fsq_levels must be a list of integers >= 2"),
    (_cfg_with(["fsq_levels"], [2 ** 20, 2 ** 20, 2, 2]), "product (the vocabulary)"),
    (_cfg_with(["kernel"], 4), "kernel must be odd"),
    (_cfg_with(["kernel"], True), "kernel must be an integer"),
    (_cfg_with(["norm_eps"], 0), "norm_eps must be a finite number > 0"),
    (_cfg_with(["norm_eps"], 1e39), "norm_eps must be a finite number"),
    (_cfg_with(["norm_groups"], 0), "norm_groups must be an integer >= 1"),
    (_cfg_with(["frames"], "5"), "frames must be an integer in 1...4096"),
    (_cfg_with(["size"], 0), "size must be an integer in 1...4096"),
    (_cfg_with(["embed_dim"], 5), "embed_dim must equal len(fsq_levels)"),
    (_cfg_with(["encoder", "res_units"], [1, 10 ** 9]), "res_units must be a list of 2 integers in 0...1024"),
    (_cfg_with(["encoder", "res_units"], [1, 1000]), "layers, the checkpoint has 60 tensors"),
    (_cfg_with(["encoder", "res_units"], [1, -1]), "res_units must be a list of 2 integers in 0...1024"),
    (_cfg_with(["in_channels"], 17), "in_channels must be an integer in 1...16"),
    (_cfg_with(["kernel"], 17), "kernel must be an integer in 1...15"),
    (_cfg_with(["decoder", "up"], [[9, 1, 1]]), "up factors must be a list of 3 integers in 1...8"),
    (_cfg_with(["frames"], 6), "frames must be 1 + k * 2"),
    (_cfg_with(["size"], 15), "size must be a multiple of 2"),
    (_cfg_with(["size"], 4096), "of memory, this machine has"),
    (_cfg_with(["fsq_levels"], [256, 256, 256, 2]), "product (the vocabulary) of at most 16777216"),
    (_cfg_with(["encoder", "channels"], []), "needs 1...16 stages, got 0"),
    (_cfg_with(["encoder", "channels"], [32, 48]), "not divisible by 32 groups"),
    (_cfg_with(["encoder", "down"], [[2, 2, 1]]), "square in space"),
    (_cfg_with(["encoder", "down"], [[2, 2]]), "down factors must be a list of 3 integers in 1...8"),
    (_cfg_with(["decoder", "up"], KeyError), "decoder must be an object with channels, res_units and up"),
    (_cfg_with(["encoder", "res_units"], [1, 0]), "changes channels but has no residual unit"),
    (_cfg_with(["in_channels"], KeyError), "missing key 'in_channels'"),
    (_cfg_with(["quantizer"], {}), "unknown key 'quantizer'"),
]


@pytest.mark.parametrize("text,expect", BAD_CONFIGS, ids=[e for _, e in BAD_CONFIGS])
def test_bad_tokenizer_config(tmp_path, capsys, text, expect):
    t0 = time.monotonic()
    rc, out = _nbp(tmp_path, text)
    _one_line_error(capsys, rc, out, expect)
    assert time.monotonic() - t0 < 10


def test_tokenizer_config_of_the_fixture_converts(tmp_path, capsys):
    rc, out = _nbp(tmp_path, json.dumps(_tiny_cfg()))
    assert rc == 0, capsys.readouterr().err
    assert convert_nbp.read_tokenizer_bundle(out)[0]["fsq_levels"] == _tiny_cfg()["fsq_levels"]


@pytest.mark.parametrize("state,expect", [
    ({"model_state_dict": {5: np.zeros(3, np.float32)}}, "key of type int is not a string"),
    ({"model_state_dict": {"module.encoder_layers.0.conv.bias": np.zeros(3, np.float32),
                           "encoder_layers.0.conv.bias": np.zeros(3, np.float32)}}, "both name tensor"),
    ({"model_state_dict": {"encoder_layers.0.conv.bias": np.zeros(3, np.int32)}}, "not floating point"),
])
def test_bad_tokenizer_state_dict(tmp_path, capsys, state, expect):
    rc, out = _nbp(tmp_path, None, state=state)
    _one_line_error(capsys, rc, out, expect)


def test_nan_tokenizer_weight(tmp_path, capsys):
    from tools.convert.pt_reader import load_pt
    obj = load_pt(os.path.join(FIXTURES, "tokenizer", "nbp_tiny.pt")).obj
    sd = dict(obj["model_state_dict"])
    name = next(k for k in sd if k.endswith("conv.weight"))
    sd[name] = np.full(sd[name].shape, np.inf, np.float32)
    rc, out = _nbp(tmp_path, json.dumps(_tiny_cfg()), state={"model_state_dict": sd})
    _one_line_error(capsys, rc, out, "holds NaN or Inf")


def test_json_text_limits(tmp_path):
    p = tmp_path / "big.json"
    p.write_bytes(b" " * (convert_inputs.TEXT_FILE_CAP + 1))
    with pytest.raises(convert_inputs.ConvertError, match="more than"):
        convert_inputs.load_json(str(p), "--config")
    p.write_text('{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}')      # brackets inside a string do not nest
    assert convert_inputs.load_json(str(p), "--config") == {"a": "[" * 33}
