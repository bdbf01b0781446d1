import numpy as np
import pytest

from tools.train import synthaction as S


def test_shape_dtype_and_range():
    x = S.clip(12, 3)
    assert x.shape == (17, 64, 64, 3) and x.dtype == np.uint8
    assert x.min() < 80 and x.max() > 150          # not a blank clip


def test_deterministic_per_seed():
    assert np.array_equal(S.clip(40, 123), S.clip(40, 123))
    assert not np.array_equal(S.clip(40, 123), S.clip(40, 124))
    assert not np.array_equal(S.clip(40, 123), S.clip(41, 123))


def test_clip_moves():
    x = S.clip(5, 0).astype(np.float32)
    assert np.abs(np.diff(x, axis=0)).mean() > 1.0   # frames differ: there is motion


def test_split_seeds_disjoint():
    train = {S.split_item("train", i)[1] for i in range(0, 10 ** 6, 997)}
    test = {S.split_item("test", i)[1] for i in range(0, 10 ** 6, 997)}
    assert max(train) < S.TEST_SEED_BASE <= min(test)
    assert not train & test
    assert S.split_item("train", 101 * 7 + 5) == (5, 7)
    with pytest.raises(ValueError):
        S.clip(101, 0)


def test_class_table_unique():
    assert len(S.class_names()) == 101
    pairs = {(c["shape"], c["path"]) for c in S.CLASSES}
    assert len(pairs) == 101                          # every class has its own actor/motion pair


def _features(c, seeds):
    feats = []
    for s in seeds:
        x = S.clip(c, s).astype(np.float32) / 255
        motion = np.abs(np.diff(x, axis=0)).mean(axis=(1, 2, 3))        # (16,) motion energy over time
        feats.append(np.concatenate([x.mean(axis=(0, 1, 2)), x.std(axis=(0, 1, 2)), [motion.mean() * 10]]))
    return np.array(feats)


def test_classes_distinguishable_by_simple_statistics():
    # Nearest-class-mean on colour + motion statistics must beat chance by far:
    # classes differ, and clips of a class resemble each other.
    classes = list(range(0, 101, 5))                  # 21 classes
    means = {c: _features(c, range(6)).mean(0) for c in classes}
    correct = 0
    for c in classes:
        for f in _features(c, range(S.TEST_SEED_BASE, S.TEST_SEED_BASE + 2)):
            pred = min(classes, key=lambda k: np.sum((means[k] - f) ** 2))
            correct += pred == c
    acc = correct / (2 * len(classes))
    assert acc > 0.5, acc                             # chance is 1/21
