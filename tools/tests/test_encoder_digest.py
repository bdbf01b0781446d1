"""The encoder digest chain: tokenizer compact -> token files -> GPT compact -> export. Token
cubes only mean something to the encoder that made them; each stage refuses another's."""
import os
import subprocess
import sys

import numpy as np
import pytest

from tools.train.encoder_digest import check_chunk, encoder_digest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _state(seed, decoder_seed=0):
    r = np.random.default_rng(seed)
    d = np.random.default_rng(decoder_seed)
    return {"encoder_layers.0.conv.weight": r.standard_normal((4, 3, 3, 3, 3)).astype(np.float32),
            "encoder_layers.0.conv.bias": r.standard_normal(4).astype(np.float32),
            "decoder_layers.0.conv.weight": d.standard_normal((3, 4, 3, 3, 3)).astype(np.float32)}


def test_digest_follows_the_encoder_only():
    a = encoder_digest(_state(0))
    assert a == encoder_digest(_state(0, decoder_seed=5))          # decoder changes: same digest
    assert a != encoder_digest(_state(1))                          # encoder changes: new digest
    s = _state(0)
    s["encoder_layers.0.conv.bias"] = s["encoder_layers.0.conv.bias"].copy()
    s["encoder_layers.0.conv.bias"][2] += 1e-6
    assert a != encoder_digest(s)
    assert len(a) == 16


def test_digest_needs_encoder_tensors():
    with pytest.raises(ValueError, match="encoder"):
        encoder_digest({"decoder_layers.0.w": np.zeros(3, np.float32)})


def test_token_chunk_of_another_encoder_is_refused(tmp_path):
    path = str(tmp_path / "train_0000.npz")
    np.savez(path, tokens=np.zeros((1, 5, 16, 16), np.int16), labels=np.zeros(1, np.int16),
             items=np.zeros(1, np.int64), encoder=np.array("aaaa"))
    check_chunk(path, "aaaa")
    with pytest.raises(SystemExit, match="encoded by encoder aaaa.*bbbb"):
        check_chunk(path, "bbbb")
    old = str(tmp_path / "train_0001.npz")
    np.savez(old, tokens=np.zeros((1, 5, 16, 16), np.int16), labels=np.zeros(1, np.int16), items=np.zeros(1, np.int64))
    with pytest.raises(SystemExit, match="unrecorded"):
        check_chunk(old, "bbbb")


def test_gpt_training_refuses_token_files_of_two_encoders(tmp_path):
    pytest.importorskip("torch")
    from tools.train.train_gpt import load_tokens
    for k, enc in enumerate(["aaaa", "bbbb"]):
        np.savez(str(tmp_path / f"train_{k:04d}.npz"), tokens=np.zeros((2, 5, 16, 16), np.int16),
                 labels=np.zeros(2, np.int16), items=np.arange(2), encoder=np.array(enc))
    with pytest.raises(SystemExit, match="two tokenizers"):
        load_tokens(str(tmp_path / "train_*.npz"))
    toks, labels, n = load_tokens(str(tmp_path / "train_0000.npz"), "aaaa")
    assert toks.shape == (2, 5, 16, 16) and n == 1


def test_export_refuses_a_gpt_trained_on_another_encoder(tmp_path):
    torch = pytest.importorskip("torch")
    from tools.train.export_builtin import check_encoders
    from tools.train.train_common import atomic_save
    tok = {"model": {k: torch.from_numpy(v) for k, v in _state(0).items()}, "steps": 1, "config": {}}
    atomic_save(tok, str(tmp_path / "tokenizer.pt"))
    good = encoder_digest(_state(0))
    assert good == encoder_digest(tok["model"])                    # torch and numpy agree
    atomic_save({"model": {}, "steps": 1, "config": {}, "encoder": good}, str(tmp_path / "gpt_n1.pt"))
    atomic_save({"model": {}, "steps": 1, "config": {}, "encoder": "0123456789abcdef"}, str(tmp_path / "gpt_n4.pt"))
    check_encoders(str(tmp_path / "tokenizer.pt"), [str(tmp_path / "gpt_n1.pt")])
    with pytest.raises(SystemExit, match="gpt_n4.pt was trained on tokens of encoder 0123456789abcdef"):
        check_encoders(str(tmp_path / "tokenizer.pt"), [str(tmp_path / "gpt_n1.pt"), str(tmp_path / "gpt_n4.pt")])


def test_frozen_encoder_keeps_its_digest_while_the_decoder_trains(tmp_path):
    torch = pytest.importorskip("torch")
    run = [sys.executable, "-m", "tools.train.train_tokenizer", "--full-batch", "1", "--pool", "2",
           "--eval-clips", "1", "--warmup", "1", "--bf16", "0", "--runs", str(tmp_path / "runs"),
           "--models", str(tmp_path / "models")]
    env = dict(os.environ, PYTHONPATH=ROOT)
    subprocess.run(run + ["--steps", "2", "--full-steps", "2"], check=True, cwd=ROOT, env=env, capture_output=True)
    compact = str(tmp_path / "models" / "tokenizer.pt")
    before = torch.load(compact, weights_only=False)
    subprocess.run(run + ["--steps", "4", "--full-steps", "4", "--freeze-encoder"], check=True, cwd=ROOT, env=env,
                   capture_output=True)
    after = torch.load(compact, weights_only=False)
    assert after["steps"] == 4
    assert before["encoder"] == after["encoder"] == encoder_digest(after["model"])
    enc = [k for k in after["model"] if k.startswith("encoder_layers.")]
    dec = [k for k in after["model"] if k.startswith("decoder_layers.") and after["model"][k].is_floating_point()]
    assert all(torch.equal(before["model"][k], after["model"][k]) for k in enc)
    assert any(not torch.equal(before["model"][k], after["model"][k]) for k in dec)
