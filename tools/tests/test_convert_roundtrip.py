"""Bundles the converters write load in par-video itself: `inspect` reads
them and a tiny `tokens` / `decode` run uses them. Needs the release binary
(.build/release/par-video); skipped, with the reason, when it is not built."""
import json
import os
import subprocess

import numpy as np
import pytest

from tools.convert import bundle
from tools.convert import convert_nbp
from tools.convert import convert_par
from tools.fixtures import make_engine_fixtures as mef
from tools.tests.paths import FIXTURES, TOOLS
from tools.tests.ptwriter import write_pt

BINARY = os.path.join(TOOLS, "..", ".build", "release", "par-video")


def par_video(*args):
    if not os.access(BINARY, os.X_OK):
        pytest.skip(f"par-video is not built ({os.path.normpath(BINARY)} missing): "
                    "swift build -c release --product par-video")
    return subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("opts", [
    ("--cube", "1", "8", "8", "--rope", "2d", "--heads", "2", "--dtype", "bf16"),
    ("--cube", "1", "8", "8", "--rope", "2d", "--heads", "2", "--cfg", "0", "--top-k", "0", "--top-p", "1e-6",
     "--temperature", "1e-30", "--multiple-of", "32", "--ffn-dim-multiplier", "1.3", "--source", "é ü \u4e2d"),
])
def test_converted_gpt_bundle_loads_in_par_video(tmp_path, opts):
    cfg = bundle.gpt_config(dim=32, n_layer=2, n_head=2, vocab_size=16, num_classes=3, cube=[1, 8, 8],
                            parallel=4, rope="2d", multiple_of=32 if "--multiple-of" in opts else 256,
                            ffn_dim_multiplier=1.3 if "--ffn-dim-multiplier" in opts else None)
    write_pt(tmp_path / "in.pt", {"model": {"module." + k: v for k, v in
                                            mef.random_weights(cfg, np.random.default_rng(1)).items()}})
    (tmp_path / "names.txt").write_text("Walk\nRun Fast\nJump\n")
    out = tmp_path / "m.safetensors"
    assert convert_par.main([str(tmp_path / "in.pt"), "-o", str(out), *opts,
                             "--actions", str(tmp_path / "names.txt")]) == 0
    r = par_video("inspect", str(out))
    assert r.returncode == 0, r.stderr
    assert "\"n_layer\":2" in r.stdout and "\"dim\":32" in r.stdout and "steps at n=4" in r.stdout
    r = par_video("tokens", "--model", str(out), "--action", "Run Fast", "-o", str(tmp_path / "t.npy"))
    assert r.returncode == 0, r.stderr
    cube = np.load(tmp_path / "t.npy")
    assert cube.shape == (1, 8, 8) and cube.min() >= 0 and cube.max() < 16


def test_converted_tokenizer_bundle_loads_in_par_video(tmp_path):
    cfg = json.loads(bundle.read_safetensors(os.path.join(FIXTURES, "tokenizer", "nbp_tiny_expected.safetensors"))[1]["config"])
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    out = tmp_path / "tok.safetensors"
    assert convert_nbp.main([os.path.join(FIXTURES, "tokenizer", "nbp_tiny.pt"), "-o", str(out),
                             "--config", str(tmp_path / "cfg.json"), "--dtype", "bf16"]) == 0
    r = par_video("inspect", str(out))
    assert r.returncode == 0 and "tokenizer" in r.stdout, r.stderr
    vocab = int(np.prod(cfg["fsq_levels"]))
    t, s = 1 + (cfg["frames"] - 1) // 2, cfg["size"] // 2      # the fixture's one down-sampling stage, [2, 2, 2]
    np.save(tmp_path / "cube.npy", (np.arange(t * s * s) % vocab).astype(np.int32).reshape(t, s, s))
    r = par_video("decode", str(tmp_path / "cube.npy"), "--model", str(out), "-o", str(tmp_path / "frames"),
                  "--format", "frames")
    assert r.returncode == 0, r.stderr
    assert len(os.listdir(tmp_path / "frames")) == cfg["frames"]
