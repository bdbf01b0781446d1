"""tools/bench/bench_par_official.py: its options everywhere; a tiny run of the
official PAR code where torch and a checkout are here (PAR_OFFICIAL, default
/tmp/parofficial), skipped elsewhere (CI has neither)."""
import json
import os
import subprocess
import sys

import pytest

from tools.bench import bench_par_official as b
from tools.tests.paths import ROOT

CHECKOUT = os.environ.get("PAR_OFFICIAL", "/tmp/parofficial")


def test_options():
    a = b.parse(["--official", "x", "--modes", "bf16,fp32"])
    assert a.modes == ["fp32", "bf16"]  # fp32 first: the bf16 run casts the weights
    assert a.parallel == [1, 4, 16] and a.size == "XL" and a.threads == 2 and a.grid == 24
    for bad in (["--modes", "fp16"], ["--modes", ","], ["--threads", "0"], ["--parallel", "16", "--grid", "6"],
                ["--size", "L"]):
        with pytest.raises(SystemExit):
            b.parse(["--official", "x"] + bad)
    assert b.CFG["XL"] == 1.5 and b.CFG["XXL"] == 1.435 and b.CFG["3B"] == 1.345


def test_missing_checkout_is_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "tools.bench.bench_par_official", "--official", str(tmp_path), "--size", "tiny"],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode != 0
    assert "no autoregressive/models/gpt.py" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_tiny_run_of_the_official_code(tmp_path):
    pytest.importorskip("torch")
    if not os.path.isfile(os.path.join(CHECKOUT, "autoregressive/models/gpt.py")):
        pytest.skip(f"no PAR checkout at {CHECKOUT} (set PAR_OFFICIAL)")
    out = tmp_path / "peer.json"
    r = subprocess.run([sys.executable, "-m", "tools.bench.bench_par_official", "--official", CHECKOUT, "--size", "tiny",
                        "--grid", "8", "--parallel", "1", "4", "--threads", "1", "--json-out", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    doc = json.loads(out.read_text())
    assert doc["rows"] == lines and doc["schema"] == 1 and doc["size"] == "tiny"
    assert [(x["parallel"], x["mode"]) for x in lines] == [(1, "fp32"), (1, "bf16"), (4, "fp32"), (4, "bf16")]
    for x in lines:
        assert x["tokens"] == 64 and x["image"] == [16, 16] and x["batch"] == 1 and x["cfg_scale"] == 1.5
        assert x["tokens_seconds"] > 0 and x["decode_seconds"] > 0
        assert abs(x["seconds_per_image"] - x["tokens_seconds"] - x["decode_seconds"]) <= 0.002
