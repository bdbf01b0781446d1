"""pt_reader's limits: zip members and sizes (declared and actual), tensor
geometry, storages, and inputs that are not regular files."""
import os
import struct
import threading
import zipfile
import zlib

import numpy as np
import pytest

from tools.convert import convert_par
from tools.convert import pt_reader
from tools.tests.ptwriter import Tensor, pickle_bytes, write_pt
from tools.tests.paths import ROOT


def _zip(path, members, compress=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compress) as z:
        for name, data in members:
            z.writestr(name, data)


def _model_members(obj, compress_data=False):
    data, storages = pickle_bytes(obj)
    members = [("archive/data.pkl", data), ("archive/byteorder", "little")]
    members += [(f"archive/data/{k}", np.ascontiguousarray(a).tobytes()) for k, a in storages.items()]
    return members


def test_zip_bomb_refused_from_the_directory(tmp_path):
    """A member that declares 1000x expansion is refused before it is inflated
    (the issue's case: 3.7 MB expanding to 3 GiB, the same ratio at 1/1000 scale)."""
    zeros = np.zeros(1 << 22, np.float32)                    # 16 MiB of zeros, deflates ~1000x
    obj = {"model": {"w": Tensor("0", zeros, 0, (zeros.size,), (1,))}}
    data, _ = pickle_bytes(obj)
    path = tmp_path / "bomb.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", data)
        z.writestr(zipfile.ZipInfo("archive/data/0"), zeros.tobytes(), compress_type=zipfile.ZIP_DEFLATED)
    assert os.path.getsize(path) < 100_000
    with pytest.raises(pt_reader.PtError, match="more than 16x expansion"):
        pt_reader.load_pt(path)


def test_lying_directory_refused_while_reading(tmp_path):
    """The directory declares a small size; the deflate stream holds far more.
    Reading stops at the declared size and the member is refused."""
    payload = os.urandom(1 << 16) * 64                       # 4 MiB, deflates ~64x
    obj = {"model": {"w": Tensor("0", np.zeros(256, np.float32), 0, (256,), (1,))}}
    data, _ = pickle_bytes(obj)
    path = tmp_path / "liar.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", data)
        z.writestr(zipfile.ZipInfo("archive/data/0"), payload, compress_type=zipfile.ZIP_DEFLATED)
    raw = bytearray(path.read_bytes())
    # patch the uncompressed size (1024 bytes) in the local header and the central directory entry
    for sig, off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        i = -1
        while True:
            i = raw.find(sig, i + 1)
            if i < 0:
                break
            name_len = struct.unpack_from("<H", raw, i + (26 if sig == b"PK\x03\x04" else 28))[0]
            start = i + (30 if sig == b"PK\x03\x04" else 46)
            if raw[start:start + name_len] == b"archive/data/0":
                struct.pack_into("<I", raw, i + off, 1024)
    path.write_bytes(bytes(raw))
    assert zipfile.ZipFile(path).getinfo("archive/data/0").file_size == 1024
    with pytest.raises(pt_reader.PtError, match="cannot read 'archive/data/0'"):
        pt_reader.load_pt(path)


def test_compressed_members_are_read(tmp_path):
    """A re-zipped checkpoint (deflated members) loads the same as a stored one."""
    w = np.random.default_rng(0).standard_normal((8, 6)).astype(np.float32)
    stored, deflated = tmp_path / "s.pt", tmp_path / "d.pt"
    write_pt(stored, {"model": {"w": w}})
    with zipfile.ZipFile(stored) as src, zipfile.ZipFile(deflated, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    assert zipfile.ZipFile(deflated).getinfo("archive/data.pkl").compress_type == zipfile.ZIP_DEFLATED
    assert np.array_equal(pt_reader.load_pt(deflated).obj["model"]["w"], w)


def test_too_many_members(tmp_path, monkeypatch):
    monkeypatch.setattr(pt_reader, "MAX_MEMBERS", 10)
    members = _model_members({"model": {"w": np.zeros(2, np.float32)}})
    members += [(f"archive/extra/{i}", b"") for i in range(10)]
    _zip(tmp_path / "many.pt", members)
    with pytest.raises(pt_reader.PtError, match="13 zip members, more than the 10"):
        pt_reader.load_pt(tmp_path / "many.pt")


def test_duplicate_member_names(tmp_path):
    members = _model_members({"model": {"w": np.zeros(2, np.float32)}})
    members.append(("archive/data/t1", np.ones(2, np.float32).tobytes()))    # a second, different storage t1
    with pytest.warns(UserWarning, match="Duplicate name"):
        _zip(tmp_path / "dup.pt", members)
    with pytest.raises(pt_reader.PtError, match="appears twice"):
        pt_reader.load_pt(tmp_path / "dup.pt")


def test_pickle_size_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(pt_reader, "MAX_PICKLE_BYTES", 1000)
    write_pt(tmp_path / "p.pt", {"model": {"w": np.zeros(2, np.float32)}, "pad": "x" * 2000})
    with pytest.raises(pt_reader.PtError, match="more than the 1000 allowed"):
        pt_reader.load_pt(tmp_path / "p.pt")


def test_stride_zero_expansion_is_bounded(tmp_path):
    """A 4-byte storage viewed with stride 0 as 2^40 elements: refused before
    anything is allocated."""
    t = Tensor("0", np.zeros(1, np.float32), 0, (1 << 20, 1 << 20), (0, 0))
    write_pt(tmp_path / "x.pt", {"model": {"w": t}})
    with pytest.raises(pt_reader.PtError, match="more than the .* bytes left"):
        pt_reader.load_pt(tmp_path / "x.pt")
    small = Tensor("0", np.arange(3, dtype=np.float32), 0, (4, 3), (0, 1))   # a small expand is fine
    write_pt(tmp_path / "y.pt", {"w": small})
    assert pt_reader.load_pt(tmp_path / "y.pt").obj["w"].tolist() == [[0, 1, 2]] * 4


@pytest.mark.parametrize("size,stride,offset,match", [
    ((2 ** 70,), (1,), 0, "out of range"),
    ((-1,), (1,), 0, "out of range"),
    ((2,), (1,), -3, "out of range"),
    ((2, 2), (1,), 0, "2 sizes and 1 strides"),
    ((1,) * 40, (1,) * 40, 0, "at most 32 dimensions"),
])
def test_bad_geometry(tmp_path, size, stride, offset, match):
    t = Tensor("0", np.zeros(4, np.float32), 0, (1,), (1,))
    t.size, t.stride, t.offset = size, stride, offset
    write_pt(tmp_path / "g.pt", {"w": t})
    with pytest.raises(pt_reader.PtError, match=match):
        pt_reader.load_pt(tmp_path / "g.pt")


def test_storage_used_with_two_types(tmp_path):
    a = Tensor("0", np.zeros(4, np.float32), 0, (4,), (1,))
    b = Tensor("0", np.zeros(4, np.int32), 0, (4,), (1,))
    write_pt(tmp_path / "t.pt", {"a": a, "b": b})
    with pytest.raises(pt_reader.PtError, match="used as both FloatStorage and IntStorage"):
        pt_reader.load_pt(tmp_path / "t.pt")


def test_build_cannot_retype_a_storage(tmp_path):
    """BUILD (a pickle setting an object's state) on a storage type would turn
    FloatStorage into any dtype; it is refused."""
    t = Tensor("0", np.zeros(4, np.float32), 0, (4,), (1,))
    write_pt(tmp_path / "b.pt", {"w": t})
    data = zipfile.ZipFile(tmp_path / "b.pt").read("archive/data.pkl")
    data = data.replace(b"ctorch\nFloatStorage\n", b"ctorch\nFloatStorage\n}X\x07\x00\x00\x00np_codeX\x01\x00\x00\x00Osb")
    write_pt(tmp_path / "b.pt", {"w": t}, raw_pickle=data)
    with pytest.raises(pt_reader.PtError, match="cannot be modified"):
        pt_reader.load_pt(tmp_path / "b.pt")


def test_fifo_checkpoint_does_not_block(tmp_path, capsys):
    fifo = tmp_path / "ckpt.pt"
    os.mkfifo(fifo)
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("rc", convert_par.main(
        [str(fifo), "-o", str(tmp_path / "o.safetensors"), "--cube", "1", "8", "8", "--rope", "2d", "--heads", "2"])))
    t.start()
    t.join(10)
    if t.is_alive():                       # unblock the thread before failing
        with open(fifo, "wb"):
            pass
        t.join()
        pytest.fail("opening a FIFO checkpoint blocked")
    assert result["rc"] == 1 and "not a regular file" in capsys.readouterr().err


def test_truncated_and_corrupt_archives(tmp_path):
    write_pt(tmp_path / "ok.pt", {"model": {"w": np.arange(64, dtype=np.float32)}})
    raw = (tmp_path / "ok.pt").read_bytes()
    for i, cut in enumerate((10, len(raw) // 2, len(raw) - 30)):
        (tmp_path / f"cut{i}.pt").write_bytes(raw[:cut])
        with pytest.raises(pt_reader.PtError):
            pt_reader.load_pt(tmp_path / f"cut{i}.pt")
    bad = bytearray(raw)
    i = bad.find(np.arange(64, dtype=np.float32).tobytes()[8:16])
    bad[i] ^= 0xFF                                             # storage bytes no longer match the CRC
    (tmp_path / "crc.pt").write_bytes(bytes(bad))
    with pytest.raises(pt_reader.PtError, match="CRC"):
        pt_reader.load_pt(tmp_path / "crc.pt")
    assert zlib.crc32(raw) != zlib.crc32(bytes(bad))


def test_error_is_one_line_whatever_the_file_holds():
    """Parser messages quote file bytes (fuzzing found 'could not convert string
    to float: ...\\n' from a damaged FLOAT opcode): controls and line
    separators from the file are escaped in every PtError."""
    e = pt_reader.PtError("x.pt: cannot unpickle (ValueError: 'loatStorage\n\x85\u2028')")
    assert len(str(e).splitlines()) == 1 and "\\u000a" in str(e) and "\\u2028" in str(e)


@pytest.mark.parametrize("opcodes", [
    b"Nr\xff\xff\xff\xff0",           # LONG_BINPUT to memo slot 2^32 - 1: the C unpickler zeroes a 64 GB memo
    b"\x8e\x00\x00\x00\x00\x01\x00\x00\x000",    # BINBYTES8 of 2^32 bytes the file does not hold
])
def test_pickle_that_would_allocate_gigabytes(tmp_path, opcodes):
    """Found by fuzzing (a run was OOM-killed at 23 GB): a few bytes of pickle
    that make the unpickler allocate by a count it has not checked. Refused
    before unpickling; run in a child limited to 2 GB of address space so a
    regression fails instead of exhausting the machine."""
    import subprocess
    import sys
    write_pt(tmp_path / "m.pt", {"w": np.zeros(3, np.float32)})
    data = zipfile.ZipFile(tmp_path / "m.pt").read("archive/data.pkl")
    write_pt(tmp_path / "m.pt", {"w": np.zeros(3, np.float32)}, raw_pickle=data[:2] + opcodes + data[2:])
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30)); "
            "from tools.convert import pt_reader\n"
            f"try:\n    pt_reader.load_pt({str(tmp_path / 'm.pt')!r})\n"
            "except pt_reader.PtError as e:\n    print(e)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 0 and ("memo slot" in r.stdout or "not a valid pickle" in r.stdout), r.stdout + r.stderr
