"""Which clips are compared (2048 vs 2048, or 10k vs 10k class-matched), labels,
and the nearest-centroid action classifier."""
import csv
import os

import numpy as np

PROTOCOL_SIZES = {"2048": 2048, "10k": 10000}
LABELS_FILE = "labels.csv"


class ProtocolError(Exception):
    pass


def read_labels(set_dir):
    """{clip name: label} from set_dir/labels.csv (columns clip,label), or None."""
    path = os.path.join(set_dir, LABELS_FILE)
    if not os.path.exists(path):
        return None
    labels = {}
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {"clip", "label"} <= set(reader.fieldnames):
            raise ProtocolError(f"{path}: needs a header with columns clip,label")
        for row in reader:
            clip, label = (row["clip"] or "").strip(), (row["label"] or "").strip()
            if not clip or not label:
                raise ProtocolError(f"{path}: line {reader.line_num}: empty clip or label")
            if clip in labels and labels[clip] != label:
                raise ProtocolError(f"{path}: line {reader.line_num}: clip {clip} labelled twice")
            labels[clip] = label
    return labels


def label_of(labels, clip, set_dir):
    """A clip's label, by its name or its name without extension."""
    for key in (clip.name, os.path.splitext(clip.name)[0]):
        if key in labels:
            return labels[key]
    raise ProtocolError(f"{os.path.join(set_dir, LABELS_FILE)}: no label for clip {clip.name}")


def _sample(items, n, rng):
    """n items, a seeded uniform subset kept in name order (all of them when n == len)."""
    if n == len(items):
        return list(items)
    idx = np.sort(rng.choice(len(items), size=n, replace=False))
    return [items[i] for i in idx]


def select(real, gen, protocol, max_clips=None, seed=0, real_labels=None, gen_labels=None,
           real_dir="real", gen_dir="gen"):
    """Returns (real subset, gen subset, class_matched)."""
    n = PROTOCOL_SIZES[protocol]
    if max_clips is not None:
        if max_clips < 2:
            raise ProtocolError("--max-clips must be at least 2")
        n = min(n, max_clips)
    hint = " (pass --max-clips for a smaller, non-standard run)" if max_clips is None else ""
    for name, clips, where in (("real", real, real_dir), ("generated", gen, gen_dir)):
        if len(clips) < n:
            raise ProtocolError(f"{where}: {len(clips)} {name} clips, protocol {protocol} needs {n}{hint}")
    rng = np.random.default_rng(seed)
    real_sel = _sample(real, n, rng)
    class_matched = protocol == "10k" and real_labels is not None and gen_labels is not None
    if not class_matched:
        return real_sel, _sample(gen, n, rng), False
    # Class-matched: as many generated clips of each class as the real subset holds.
    wanted = {}
    for c in real_sel:
        lab = label_of(real_labels, c, real_dir)
        wanted[lab] = wanted.get(lab, 0) + 1
    by_class = {}
    for c in gen:
        by_class.setdefault(label_of(gen_labels, c, gen_dir), []).append(c)
    gen_sel = []
    for lab in sorted(wanted):
        have = by_class.get(lab, [])
        if len(have) < wanted[lab]:
            raise ProtocolError(f"{gen_dir}: class {lab} has {len(have)} generated clips, "
                                f"the class-matched real subset has {wanted[lab]}")
        gen_sel += _sample(have, wanted[lab], rng)
    gen_sel.sort(key=lambda c: c.name)
    return real_sel, gen_sel, True


def _class_order(labels):
    uniq = set(labels)
    try:
        return sorted(uniq, key=int)
    except ValueError:
        return sorted(uniq)


def nearest_centroid_accuracy(ref_features, ref_labels, features, labels):
    """Classifier: per-class mean of the reference features; each clip gets the
    class of the nearest mean (Euclidean). Accuracy overall and per class."""
    classes = _class_order(ref_labels)
    ref = np.asarray(ref_features, np.float64)
    ref_labels = np.asarray(ref_labels)
    centroids = np.stack([ref[ref_labels == c].mean(axis=0) for c in classes])
    x = np.asarray(features, np.float64)
    d2 = (x * x).sum(1)[:, None] - 2 * x @ centroids.T + (centroids * centroids).sum(1)[None, :]
    pred = np.asarray(classes)[np.argmin(d2, axis=1)]
    labels = np.asarray(labels)
    correct = pred == labels
    per_class = {}
    for c in _class_order(labels.tolist()):
        mask = labels == c
        per_class[str(c)] = {"n": int(mask.sum()), "accuracy": round(float(correct[mask].mean()), 6)}
    return float(correct.mean()), per_class
