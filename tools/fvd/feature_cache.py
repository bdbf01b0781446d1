"""Feature extraction for one set of clips, with an on-disk cache.

One cache file per (set folder, extractor settings) holds the features of every
clip computed so far, keyed by the clip's fingerprint (names, sizes, mtimes of
the files read), so any subset of the set is extracted once, and an interrupted
run resumes. Files are replaced atomically.
"""
import hashlib
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from tools.fvd import clip_io

SAVE_EVERY = 64  # clips between cache checkpoints


def _digest(obj):
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def default_cache_dir():
    return os.environ.get("FVD_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "par-video", "fvd")


class FeatureCache:
    def __init__(self, cache_dir, set_dir, settings):
        self.settings = settings
        self.path = None
        self.entries = {}
        if cache_dir is None:
            return
        key = _digest({"set": os.path.realpath(set_dir), "settings": settings})[:24]
        self.path = os.path.join(cache_dir, f"{key}.npz")
        if os.path.exists(self.path):
            try:
                with np.load(self.path, allow_pickle=False) as z:
                    if json.loads(str(z["settings"])) == settings:
                        self.entries = dict(zip(z["keys"].tolist(), z["features"]))
            except (OSError, ValueError, KeyError) as e:
                print(f"fvd: ignoring unreadable cache {self.path}: {e}", file=sys.stderr)

    def save(self):
        if self.path is None or not self.entries:
            return
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        keys = list(self.entries)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(self.path), suffix=".tmp.npz")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, keys=np.array(keys), features=np.stack([self.entries[k] for k in keys]),
                         settings=np.array(json.dumps(self.settings, sort_keys=True)))
            os.replace(tmp, self.path)
        except BaseException:
            os.unlink(tmp)
            raise


def extract(clips, extractor, cache, n_frames=16, size=224, batch=4, label="", log=sys.stderr):
    """Features (len(clips), D) float32 in clip order; returns (features, stats)."""
    keys = [_digest(clip_io.fingerprint(c, n_frames)) for c in clips]
    todo = [i for i, k in enumerate(keys) if k not in cache.entries]
    start = time.perf_counter()
    load = lambda i: clip_io.preprocess(clip_io.read_clip(clips[i], n_frames), size)
    done_since_save = 0
    # decode the next clips in a thread while the network runs (ffmpeg is a separate process)
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = [pool.submit(load, i) for i in todo[:batch]]
            for b0 in range(0, len(todo), batch):
                idx = todo[b0:b0 + batch]
                x = np.stack([f.result() for f in pending])
                pending = [pool.submit(load, i) for i in todo[b0 + batch:b0 + 2 * batch]]
                feats = np.asarray(extractor(x), np.float32)
                for i, f in zip(idx, feats):
                    cache.entries[keys[i]] = f
                done_since_save += len(idx)
                if done_since_save >= SAVE_EVERY:
                    cache.save()
                    done_since_save = 0
                n = b0 + len(idx)
                if log is not None and (n % (8 * batch) < batch or n == len(todo)):
                    rate = n / (time.perf_counter() - start)
                    print(f"fvd: {label} {n}/{len(todo)} clips, {rate:.2f} clips/s, "
                          f"{(len(todo) - n) / rate / 60:.0f} min left", file=log, flush=True)
    finally:  # keep what was computed, also when a later clip fails
        if done_since_save:
            cache.save()
    seconds = time.perf_counter() - start
    stats = {"clips": len(clips), "computed": len(todo), "cached": len(clips) - len(todo),
             "seconds": round(seconds, 3),
             "clips_per_s": round(len(todo) / seconds, 4) if todo else None}
    return np.stack([cache.entries[k] for k in keys]), stats
