"""Tests/Fixtures/image/tiny regenerates to what is committed; the ImageNet class list and its Swift copy agree."""
import os
import shutil

from tools.fixtures import imagenet_classes_swift
from tools.fixtures import make_image_fixture
from tools.tests.paths import FIXTURES


def test_image_fixture_regenerates(tmp_path):
    os.makedirs(tmp_path / "vq2d")
    shutil.copyfile(os.path.join(FIXTURES, "vq2d", "vq_c.safetensors"), tmp_path / "vq2d" / "vq_c.safetensors")
    make_image_fixture.make(str(tmp_path))
    for name in ("gpt.safetensors", "vq.safetensors"):
        with open(os.path.join(FIXTURES, "image", "tiny", name), "rb") as f:
            assert (tmp_path / "image" / "tiny" / name).read_bytes() == f.read(), name


def test_imagenet_classes():
    labels = imagenet_classes_swift.labels()
    assert len(labels) == 1000 and all(l and l == l.strip() and "|" not in l for l in labels)
    assert labels[0] == "tench, Tinca tinca" and labels[207] == "golden retriever"
    assert labels[999] == "toilet tissue, toilet paper, bathroom tissue"
    assert imagenet_classes_swift.main(["--check"]) == 0       # the Swift file is what the script writes


def test_batch_sample_batch_loads_in_numpy(tmp_path):
    """The .npz of an image batch is what numpy (so the ADM evaluator) reads: arr_0, uint8 N x H x W x 3."""
    import numpy as np
    from tools.tests.test_convert_roundtrip import par_video
    out = tmp_path / "run"
    r = par_video("batch", "--model", os.path.join(FIXTURES, "image", "tiny"), "--actions", "0-3", "--per-class", "2",
                  "--quiet", "-o", str(out))
    assert r.returncode == 0, r.stderr
    with np.load(out / "samples.npz") as z:
        assert z.files == ["arr_0"]
        a = z["arr_0"]
    assert a.shape == (8, 16, 16, 3) and a.dtype == np.uint8 and len({a[i].tobytes() for i in range(8)}) == 8
