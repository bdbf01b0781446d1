"""Which clips are compared (2048 vs 2048, or 10k vs 10k; class-matched when both
sets are labelled), labels,
and the nearest-centroid action classifier."""
import csv
import hashlib
import os
from dataclasses import dataclass

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


def _sample(items, n, seed):
    """n items: those whose SHA-256 of "seed:name" is smallest, kept in name order
    (all of them when n >= len). The Swift `par-video fvd` picks the same clips."""
    if n >= len(items):
        return list(items)
    ranked = sorted(items, key=lambda c: hashlib.sha256(f"{seed}:{c.name}".encode()).hexdigest())
    return sorted(ranked[:n], key=lambda c: c.name.encode())


def select(real, gen, protocol, max_clips=None, seed=0, real_labels=None, gen_labels=None,
           real_dir="real", gen_dir="gen", class_match=True):
    """Returns a Selection: the real and generated subsets, whether they are
    class-matched (whenever both sets are labelled, unless class_match is False:
    the real subset then holds as many clips of each class as the generated one),
    and the generated classes no selected real clip has (only without matching;
    with it they are an error)."""
    n = PROTOCOL_SIZES[protocol]
    if max_clips is not None:
        if max_clips < 2:
            raise ProtocolError("--max-clips must be at least 2")
        n = min(n, max_clips)
    hint = " (pass --max-clips for a smaller, non-standard run)" if max_clips is None else ""
    for name, clips, where in (("real", real, real_dir), ("generated", gen, gen_dir)):
        if len(clips) < n:
            raise ProtocolError(f"{where}: {len(clips)} {name} clips, protocol {protocol} needs {n}{hint}")
    gen_sel = _sample(gen, n, seed)
    if real_labels is None or gen_labels is None:
        return Selection(_sample(real, n, seed), gen_sel, False, [], 0)
    gl = [label_of(gen_labels, c, gen_dir) for c in gen_sel]
    by_class = {}
    for c in real:
        by_class.setdefault(label_of(real_labels, c, real_dir), []).append(c)
    if not class_match:
        real_sel = _sample(real, n, seed)
        have = {label_of(real_labels, c, real_dir) for c in real_sel}
        missing = [lab for lab in gl if lab not in have]
        return Selection(real_sel, gen_sel, False, _class_order(missing), len(missing))
    wanted = {}
    for lab in gl:
        wanted[lab] = wanted.get(lab, 0) + 1
    absent = [lab for lab in _class_order(wanted) if lab not in by_class]
    short = [f"{lab} ({len(by_class[lab])} of {wanted[lab]})" for lab in _class_order(wanted)
             if lab in by_class and len(by_class[lab]) < wanted[lab]]
    if absent or short:
        parts = []
        if absent:
            parts.append(f"has no clips of generated class{'' if len(absent) == 1 else 'es'} {', '.join(absent)} "
                         f"({sum(wanted[lab] for lab in absent)} generated clips)")
        if short:
            parts.append(f"has too few clips of class{'' if len(short) == 1 else 'es'} {', '.join(short)}")
        raise ProtocolError(f"{real_dir}: cannot class-match: the real set {' and '.join(parts)}; "
                            "use a real set covering the generated classes, or pass --no-class-match")
    real_sel = []
    for lab in _class_order(wanted):
        real_sel += _sample(by_class[lab], wanted[lab], seed)
    real_sel.sort(key=lambda c: c.name.encode())
    return Selection(real_sel, gen_sel, True, [], 0)


@dataclass
class Selection:
    real: list
    gen: list
    class_matched: bool
    missing_classes: list
    missing_clips: int


def _class_order(labels):
    uniq = set(labels)
    try:
        return sorted(uniq, key=int)
    except ValueError:
        return sorted(uniq)


def nearest_centroid_accuracy(ref_features, ref_labels, features, labels):
    """Classifier: per-class mean of the reference features; each clip gets the
    class of the nearest mean (Euclidean). Accuracy overall and per class, over
    the clips of classes the reference has (the caller reports the others)."""
    classes = _class_order(ref_labels)
    ref = np.asarray(ref_features, np.float64)
    ref_labels = np.asarray(ref_labels)
    centroids = np.stack([ref[ref_labels == c].mean(axis=0) for c in classes])
    x = np.asarray(features, np.float64)
    d2 = (x * x).sum(1)[:, None] - 2 * x @ centroids.T + (centroids * centroids).sum(1)[None, :]
    pred = np.asarray(classes)[np.argmin(d2, axis=1)]
    labels = np.asarray(labels)
    known = np.isin(labels, np.asarray(classes))
    correct = pred == labels
    per_class = {}
    if not known.any():
        return 0.0, per_class
    for c in _class_order(labels[known].tolist()):
        mask = labels == c
        per_class[str(c)] = {"n": int(mask.sum()), "accuracy": round(float(correct[mask].mean()), 6)}
    return float(correct[known].mean()), per_class
