"""Streaming conversion: pt_reader.open_pt reads one tensor at a time and the
bundle writer writes one at a time, so converting holds about one tensor.
The bundle is byte-identical to the one written from fully loaded arrays,
hostile members are refused on this path as on load_pt's, and a failed or
interrupted run leaves no file."""
import json
import os
import struct
import subprocess
import sys
import tracemalloc
import zipfile

import numpy as np
import pytest

from tools.convert import bundle
from tools.convert import convert_par
from tools.convert import pt_reader
from tools.fixtures import make_engine_fixtures as mef
from tools.tests.paths import ROOT
from tools.tests.ptwriter import Tensor, write_pt

GEOMETRY = ["--cube", "1", "8", "8", "--rope", "2d"]


def _model(dim=32, heads=2, vocab=16, layers=2, seed=0):
    cfg = bundle.gpt_config(dim=dim, n_layer=layers, n_head=heads, vocab_size=vocab, num_classes=3,
                            cube=[1, 8, 8], parallel=4, rope="2d")
    return cfg, mef.random_weights(cfg, np.random.default_rng(seed))


def _in_memory(path, dtype, heads=2):
    """The bundle's bytes built from every tensor loaded at once (load_pt, arrays),
    the way the writer laid files out before it streamed: header, then each
    tensor's encoded bytes, widest dtype first, then by name."""
    sd, _ = convert_par.pick_state_dict(pt_reader.load_pt(path).obj)
    sd = convert_par.clean_names(sd)
    args = convert_par.parser().parse_args([str(path), "-o", "x", *GEOMETRY, "--heads", str(heads)])
    args.actions_list = None
    cfg = convert_par.infer_config(sd, args)
    header, blobs, offset = {"__metadata__": {"par_video": bundle.metadata_json("gpt", cfg)}}, [], 0
    for name in sorted(sd):
        raw = bundle.encode(sd[name], dtype)
        header[name] = {"dtype": dtype, "shape": list(sd[name].shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    hjson = json.dumps(header, separators=(",", ":")).encode()
    hjson += b" " * (-len(hjson) % 8)
    return struct.pack("<Q", len(hjson)) + hjson + b"".join(blobs)


def _one_error_line(capsys):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def _leftovers(folder):
    return sorted(n for n in os.listdir(folder) if ".tmp" in n)


@pytest.mark.parametrize("dtype", ["f32", "f16", "bf16"])
@pytest.mark.parametrize("deflate", [False, True])
def test_streamed_bundle_is_byte_identical_to_the_in_memory_one(tmp_path, dtype, deflate):
    _, sd = _model()
    sd = {"module." + k: v for k, v in sd.items()}
    sd["module.freqs_cis"] = np.zeros((5, 2), np.float32)
    path = tmp_path / "in.pt"
    write_pt(path, {"model": sd, "optimizer": {"state": {0: {"exp_avg": np.ones(7, np.float32)}}}})
    if deflate:                       # a re-zipped checkpoint: storages stream through the inflater
        plain = zipfile.ZipFile(path).infolist()
        data = {i.filename: zipfile.ZipFile(path).read(i) for i in plain}
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            for name, raw in data.items():
                z.writestr(name, raw)
    streamed = tmp_path / "s.safetensors"
    assert convert_par.main([str(path), "-o", str(streamed), *GEOMETRY, "--heads", "2", "--dtype", dtype]) == 0
    assert streamed.read_bytes() == _in_memory(path, dtype.upper())


def test_tensor_refs_read_what_load_pt_returns(tmp_path):
    """Every kind of view through both paths: contiguous, offset, transposed,
    stride 0, empty, scalar, shared storage, BF16 and v3 untyped storages."""
    store = np.arange(24, dtype=np.float32)
    bf = np.array([0x3F80, 0xC040, 0x0000, 0x4000], np.uint16)
    obj = {"full": Tensor("0", store, 0, (4, 6), (6, 1)),
           "transposed": Tensor("0", store, 0, (6, 4), (1, 6)),
           "row_slice": Tensor("0", store, 8, (2, 3), (6, 1)),
           "tail": Tensor("0", store, 20, (4,), (1,)),
           "expand": Tensor("1", np.arange(3, dtype=np.float32), 0, (4, 3), (0, 1)),
           "scalar": Tensor("2", np.array([7.0, 8.0], np.float32), 1, (), ()),
           "empty": Tensor("3", np.zeros(0, np.float32), 0, (0, 64), (64, 1)),
           "bf16": Tensor("4", bf, 1, (3,), (1,), "BFloat16Storage"),
           "v3": Tensor("5", np.arange(8, dtype=np.float32).view(np.uint8), 2, (3, 2), (2, 1),
                        "UntypedStorage", v3_dtype="float32"),
           "half": np.linspace(-2, 2, 7).astype(np.float16), "i64": np.arange(5, dtype=np.int64)}
    write_pt(tmp_path / "v.pt", obj)
    eager = pt_reader.load_pt(tmp_path / "v.pt").obj
    with pt_reader.open_pt(tmp_path / "v.pt") as pt:
        for name, ref in pt.obj.items():
            assert isinstance(ref, pt_reader.TensorRef)
            got = ref.read()
            assert got.shape == ref.shape == eager[name].shape and got.dtype == ref.dtype == eager[name].dtype, name
            assert np.array_equal(got, eager[name]) and got.flags.c_contiguous, name


def test_big_endian_archive_reads_the_same_both_ways(tmp_path):
    w = np.arange(12, dtype=np.float32).reshape(3, 4) - 5.5
    write_pt(tmp_path / "le.pt", {"w": w})
    with zipfile.ZipFile(tmp_path / "le.pt") as z:
        members = {i.filename: z.read(i) for i in z.infolist()}
    members["archive/byteorder"] = b"big"
    members["archive/data/t1"] = w.astype(">f4").tobytes()
    with zipfile.ZipFile(tmp_path / "be.pt", "w") as z:
        for name, raw in members.items():
            z.writestr(name, raw)
    with pt_reader.open_pt(tmp_path / "be.pt") as pt:
        assert np.array_equal(pt.obj["w"].read(), w)
    assert np.array_equal(pt_reader.load_pt(tmp_path / "be.pt").obj["w"], w)


def _largest_and_peak(fn):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("dtype", ["f32", "bf16"])
def test_converting_holds_about_one_tensor(tmp_path, monkeypatch, dtype):
    """A 60 MB checkpoint whose largest tensor is 4 MB: what converting allocates
    at its peak (numpy data and Python objects, as tracemalloc counts them)
    stays under two of the largest tensor. Reading everything, as load_pt
    does, peaks above the whole file."""
    monkeypatch.setattr(pt_reader, "CHUNK", 1 << 20)
    monkeypatch.setattr(bundle, "CHUNK", 1 << 16)
    cfg, sd = _model(dim=512, heads=8, vocab=2048, layers=4)
    path = tmp_path / "big.pt"
    write_pt(path, {"model": sd})
    total = sum(a.nbytes for a in sd.values())
    largest = max(a.nbytes for a in sd.values())
    assert total > 12 * largest
    out = tmp_path / "o.safetensors"
    argv = [str(path), "-o", str(out), *GEOMETRY, "--heads", "8", "--dtype", dtype]
    del sd
    peak = _largest_and_peak(lambda: convert_par.main(argv))
    assert out.exists() and peak < 2 * largest, (peak, largest)
    eager = _largest_and_peak(lambda: pt_reader.load_pt(path))
    assert eager > total          # the measurement sees whole-file reading


def _patch_member_bytes(path, member, edit):
    """Rewrite `member`'s data in place (same length): its CRC no longer matches."""
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(member)
    raw = bytearray(path.read_bytes())
    (name_len, extra_len) = struct.unpack_from("<HH", raw, info.header_offset + 26)
    start = info.header_offset + 30 + name_len + extra_len
    raw[start:start + info.compress_size] = edit(bytes(raw[start:start + info.compress_size]))
    path.write_bytes(bytes(raw))


def _storage_of(tensor_name):
    """The member holding `tensor_name`'s storage (ptwriter numbers them in dict order)."""
    return f"archive/data/t{1 + list(_model()[1]).index(tensor_name)}"


def test_corrupt_member_late_in_the_write_leaves_no_file(tmp_path, capsys):
    """tok_embeddings is written last: the failure comes after every other
    tensor is in the temporary file, which is removed; an existing output is
    untouched."""
    _, sd = _model()
    path = tmp_path / "in.pt"
    write_pt(path, {"model": sd})
    _patch_member_bytes(path, _storage_of("tok_embeddings.weight"), lambda b: b[:-1] + bytes([b[-1] ^ 0xFF]))
    out = tmp_path / "o.safetensors"
    out.write_bytes(b"previous model")
    assert convert_par.main([str(path), "-o", str(out), *GEOMETRY, "--heads", "2"]) == 1
    err = _one_error_line(capsys)
    assert "cannot read 'archive/data/" in err and "CRC" in err
    assert out.read_bytes() == b"previous model" and _leftovers(tmp_path) == []


def _set_declared_size(path, member, size):
    """Patch a member's uncompressed size in its local header and its directory entry."""
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        struct.pack_into("<I", raw, z.getinfo(member).header_offset + 22, size)
    i = -1
    while (i := raw.find(b"PK\x01\x02", i + 1)) >= 0:
        n = struct.unpack_from("<H", raw, i + 28)[0]
        if raw[i + 46:i + 46 + n] == member.encode():
            struct.pack_into("<I", raw, i + 24, size)
    path.write_bytes(bytes(raw))


def test_member_holding_more_than_declared_is_refused(tmp_path, capsys):
    """A deflated storage that inflates to far more than its directory entry
    declares: reading stops at the declared size and the member is refused
    (one line, no file), in the middle of writing."""
    _, sd = _model()
    path = tmp_path / "in.pt"
    write_pt(path, {"model": sd})
    member = _storage_of("norm.weight")
    with zipfile.ZipFile(path) as z:
        data = {i.filename: z.read(i) for i in z.infolist()}
    declared = len(data[member])
    data[member] += os.urandom(1 << 16) * 16
    with zipfile.ZipFile(path, "w") as z:
        for name, raw in data.items():
            z.writestr(name, raw, compress_type=zipfile.ZIP_DEFLATED if name == member else zipfile.ZIP_STORED)
    _set_declared_size(path, member, declared)
    out = tmp_path / "o.safetensors"
    assert convert_par.main([str(path), "-o", str(out), *GEOMETRY, "--heads", "2"]) == 1
    assert f"cannot read {member!r}" in _one_error_line(capsys)
    assert not out.exists() and _leftovers(tmp_path) == []


def test_truncated_archive_is_refused_by_open_pt(tmp_path):
    _, sd = _model()
    write_pt(tmp_path / "ok.pt", {"model": sd})
    raw = (tmp_path / "ok.pt").read_bytes()
    for i, cut in enumerate((10, len(raw) // 2, len(raw) - 30)):
        (tmp_path / f"cut{i}.pt").write_bytes(raw[:cut])
        with pytest.raises(pt_reader.PtError) as e:
            with pt_reader.open_pt(tmp_path / f"cut{i}.pt") as pt:
                for ref in pt.obj["model"].values():
                    ref.read()
        assert len(str(e.value).splitlines()) == 1


def test_view_larger_than_its_storage_is_refused_before_writing(tmp_path, capsys):
    _, sd = _model()
    sd["norm.weight"] = Tensor("lie", np.zeros(8, np.float32), 0, (32,), (1,))
    write_pt(tmp_path / "in.pt", {"model": sd})
    out = tmp_path / "o.safetensors"
    assert convert_par.main([str(tmp_path / "in.pt"), "-o", str(out), *GEOMETRY, "--heads", "2"]) == 1
    assert "past the end of its storage" in _one_error_line(capsys)
    assert not out.exists() and _leftovers(tmp_path) == []


def test_many_views_of_one_storage_cannot_multiply_the_reading(tmp_path):
    """load_pt reads a storage once; open_pt reads a member per tensor, so a file
    of many tensors over one storage could make it read the file over and over.
    Tiny views pass the budget on tensor bytes; what they make the reader read
    is bounded by the same 16x as everything else the file can cause."""
    store = np.arange(1 << 18, dtype=np.float32)
    write_pt(tmp_path / "s.pt", {f"v{i}": Tensor("0", store, i, (1,), (1,)) for i in range(40)})
    with pt_reader.open_pt(tmp_path / "s.pt") as pt:
        with pytest.raises(pt_reader.PtError, match="share storages"):
            for ref in pt.obj.values():
                ref.read()
    assert len(pt_reader.load_pt(tmp_path / "s.pt").obj) == 40


def test_memory_check_counts_what_each_path_holds(tmp_path, monkeypatch):
    """load_pt holds every member, open_pt the largest: a machine with memory for
    one tensor but not all converts through open_pt."""
    _, sd = _model()
    write_pt(tmp_path / "in.pt", {"model": sd})
    total = sum(a.nbytes for a in sd.values())
    monkeypatch.setattr(pt_reader, "_available_memory", lambda: total // 2)
    with pytest.raises(pt_reader.PtError, match="needs about"):
        pt_reader.load_pt(tmp_path / "in.pt")
    with pt_reader.open_pt(tmp_path / "in.pt") as pt:
        assert pt.obj["model"]["tok_embeddings.weight"].read().shape == (16, 32)


def test_interrupt_while_writing_leaves_no_file(tmp_path, monkeypatch, capsys):
    _, sd = _model()
    write_pt(tmp_path / "in.pt", {"model": sd})
    out = tmp_path / "o.safetensors"
    out.write_bytes(b"previous model")
    reads = []
    real = pt_reader._Reader.tensor

    def tensor(self, ref):
        reads.append(ref)
        if len(reads) == 5:
            raise KeyboardInterrupt
        return real(self, ref)
    monkeypatch.setattr(pt_reader._Reader, "tensor", tensor)
    assert convert_par.main([str(tmp_path / "in.pt"), "-o", str(out), *GEOMETRY, "--heads", "2"]) == 130
    assert "interrupted; nothing written" in capsys.readouterr().err
    assert out.read_bytes() == b"previous model" and _leftovers(tmp_path) == [] and len(reads) == 5


def test_sigterm_while_writing_leaves_no_file(tmp_path):
    """A real SIGTERM, delivered to the converter by itself after a few tensors
    are written (deterministic, no race with a sleeping parent)."""
    _, sd = _model()
    write_pt(tmp_path / "in.pt", {"model": sd})
    out = tmp_path / "o.safetensors"
    code = ("import os, signal, sys\n"
            "from tools.convert import convert_par, pt_reader\n"
            "real, n = pt_reader._Reader.tensor, [0]\n"
            "def tensor(self, ref):\n"
            "    n[0] += 1\n"
            "    if n[0] == 6:\n"
            "        os.kill(os.getpid(), signal.SIGTERM)\n"
            "    return real(self, ref)\n"
            "pt_reader._Reader.tensor = tensor\n"
            f"sys.exit(convert_par.main([{str(tmp_path / 'in.pt')!r}, '-o', {str(out)!r}, "
            "'--cube', '1', '8', '8', '--rope', '2d', '--heads', '2']))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 128 + 15 and "stopped by signal 15; nothing written" in r.stderr, r.stderr
    assert not out.exists() and _leftovers(tmp_path) == []


def test_bundle_larger_than_the_free_disk_is_refused_before_writing(tmp_path, monkeypatch, capsys):
    _, sd = _model()
    write_pt(tmp_path / "in.pt", {"model": sd})
    need = 8 + sum(a.nbytes for a in sd.values())
    monkeypatch.setattr(bundle, "free_bytes", lambda folder: need - 1)
    reads = []
    monkeypatch.setattr(pt_reader._Reader, "tensor", lambda self, ref: reads.append(ref))
    out = tmp_path / "o.safetensors"
    assert convert_par.main([str(tmp_path / "in.pt"), "-o", str(out), *GEOMETRY, "--heads", "2"]) == 1
    assert "the disk has" in _one_error_line(capsys) and reads == []
    assert not out.exists() and _leftovers(tmp_path) == []
