"""The one-command GPU trainer, run on the CPU with budgets of seconds (skipped without torch)."""
import json
import os

import pytest

torch = pytest.importorskip("torch")

from tools.train import train_builtin_gpu as TG  # noqa: E402


def test_runs_every_stage_and_writes_compact_files(tmp_path):
    out = tmp_path / "out"
    TG.main(["--out", str(out), "--models", str(tmp_path / "none"), "--device", "cpu", "--train-clips", "8",
             "--test-clips", "4", "--eval-clips", "2", "--workers", "1", "--tok-minutes", "0.05", "--tok-batch", "1",
             "--gpt-minutes", "0.02,0.01,0.01", "--gpt-batch", "2", "--dim", "32", "--n-layer", "1", "--n-head", "2"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["tokenizer"]["steps"] >= 1
    assert sorted(os.listdir(out)) == ["gpt_n1.pt", "gpt_n16.pt", "gpt_n4.pt", "summary.json", "tokenizer.pt"]
    st = torch.load(out / "gpt_n16.pt", weights_only=False)
    assert st["config"]["cube"] == [5, 16, 16] and st["config"]["parallel"] == 16
    # A second run continues from the first one's files instead of starting over.
    again = tmp_path / "again"
    TG.main(["--out", str(again), "--models", str(out), "--device", "cpu", "--train-clips", "8", "--test-clips", "4",
             "--eval-clips", "2", "--workers", "1", "--tok-minutes", "0.02", "--tok-batch", "1",
             "--gpt-minutes", "0.01,0,0", "--gpt-batch", "2", "--dim", "32", "--n-layer", "1", "--n-head", "2"])
    s2 = json.loads((again / "summary.json").read_text())
    assert s2["tokenizer"]["steps"] > summary["tokenizer"]["steps"]
    assert s2["gpt_n1"]["steps"] > summary["gpt_n1"]["steps"]
