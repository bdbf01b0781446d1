"""Resuming a trainer: a compact file of another data version is refused, not resumed, and
`init_from` seeds a new run from it at step 0 (the built-in tokenizer moved from SynthAction
version 1 to version 2 this way)."""
import pytest

torch = pytest.importorskip("torch")

from tools.train.train_common import init_from, resume, save_compact  # noqa: E402

CFG = {"dim": 3}


def _model(seed):
    torch.manual_seed(seed)
    return torch.nn.Linear(3, 3)


def test_compact_of_another_data_version_is_refused(tmp_path):
    compact = str(tmp_path / "tok.pt")
    save_compact(_model(0), 500, CFG, compact, extra={"data": 1}, dtype=torch.float32)
    with pytest.raises(SystemExit, match="version 1.*version 2.*--init"):
        resume(_model(1), None, str(tmp_path / "none" / "state.pt"), compact, print, CFG, data_version=2)


def test_compact_without_a_data_field_counts_as_version_1(tmp_path):
    compact = str(tmp_path / "tok.pt")
    save_compact(_model(0), 500, CFG, compact, dtype=torch.float32)
    assert resume(_model(1), None, str(tmp_path / "state.pt"), compact, print, CFG, data_version=1)[0] == 500
    with pytest.raises(SystemExit):
        resume(_model(1), None, str(tmp_path / "state.pt"), compact, print, CFG, data_version=2)


def test_same_data_version_resumes_at_its_step(tmp_path):
    compact = str(tmp_path / "tok.pt")
    src = _model(0)
    save_compact(src, 700, CFG, compact, extra={"data": 2}, dtype=torch.float32)
    dst = _model(1)
    assert resume(dst, None, str(tmp_path / "state.pt"), compact, print, CFG, data_version=2)[0] == 700
    assert torch.equal(dst.weight, src.weight)


def test_init_from_loads_the_weights_and_checks_the_config(tmp_path):
    compact = str(tmp_path / "v1.pt")
    src = _model(0)
    save_compact(src, 19877, CFG, compact, extra={"data": 1}, dtype=torch.float32)
    dst = _model(1)
    init_from(dst, compact, CFG, print)
    assert torch.equal(dst.weight, src.weight)
    with pytest.raises(SystemExit, match="config"):
        init_from(_model(2), compact, {"dim": 4}, print)
