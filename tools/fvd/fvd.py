#!/usr/bin/env python3
"""FVD between two sets of clips, with I3D Kinetics-400 logits; prints one JSON line.

  python3 -m tools.fvd.fvd --real DIR --gen DIR [--protocol 2048|10k] [--max-clips N]

A set is a folder of video files or of StyleGAN-V clip folders (frames as images);
an optional labels.csv (clip,label) in both sets enables class matching and the
nearest-centroid action accuracy. See docs/FVD.md.
"""
import argparse
import json
import os
import sys
import time


def _default_blas_threads():
    """One BLAS thread when other jobs hold the cores: OpenBLAS threads then wait on
    each other and two run slower than one (measured, docs/FVD.md)."""
    cores = os.cpu_count() or 1
    return 1 if os.getloadavg()[0] >= cores else cores


# Must be set before numpy loads OpenBLAS; an explicit setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", str(_default_blas_threads()))

from tools.fvd import clip_io  # noqa: E402
from tools.fvd import feature_cache  # noqa: E402
from tools.fvd import frechet  # noqa: E402
from tools.fvd import i3d_weights  # noqa: E402
from tools.fvd import protocol  # noqa: E402

N_FRAMES = 16
SIZE = 224
CACHE_VERSION = 1


class I3DExtractor:
    """I3D logits; numpy port by default, the package's flax model with --backend jax.
    The weights are loaded on first use, so a fully cached run skips them."""

    def __init__(self, backend="numpy", weights_path=None):
        self.backend, self.weights_path, self.model = backend, weights_path, None
        # Both backends give the same logits (within 1e-4), so they share a cache.
        self.settings = {"features": "i3d-kinetics-400-logits", "weights_sha256": i3d_weights.WEIGHTS_SHA256}

    def __call__(self, clips):
        if self.model is None:
            variables = i3d_weights.load_variables(self.weights_path)
            if self.backend == "jax":
                from tools.fvd import i3d_jax_backend
                self.model = i3d_jax_backend.I3DJax(variables)
            else:
                from tools.fvd import i3d_numpy
                self.model = i3d_numpy.I3D(variables)
        return self.model(clips)


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="fvd", description=__doc__.split("\n")[0])
    p.add_argument("--real", required=True, help="reference clips (folder)")
    p.add_argument("--gen", required=True, help="generated clips (folder)")
    p.add_argument("--protocol", choices=sorted(protocol.PROTOCOL_SIZES), default="2048")
    p.add_argument("--max-clips", type=int, help="compare at most N vs N clips (non-standard, smaller run)")
    p.add_argument("--seed", type=int, default=0, help="seed for picking subsets of larger sets")
    p.add_argument("--no-class-match", action="store_true",
                   help="choose the real clips without regard to the generated clips' classes")
    p.add_argument("--backend", choices=["numpy", "jax"], default="numpy")
    p.add_argument("--batch", type=int, default=4, help="clips per network call")
    p.add_argument("--i3d-weights", help="path of i3d-kinetics-400.ckpt (default: the installed i3d-jax package)")
    p.add_argument("--cache-dir", default=feature_cache.default_cache_dir())
    p.add_argument("--no-cache", action="store_true")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return p.parse_args(argv)


def run(args, extractor=None):
    start = time.perf_counter()
    log = None if args.quiet else sys.stderr
    real_all, gen_all = clip_io.list_clips(args.real), clip_io.list_clips(args.gen)
    real_labels, gen_labels = protocol.read_labels(args.real), protocol.read_labels(args.gen)
    sel = protocol.select(real_all, gen_all, args.protocol, args.max_clips, args.seed,
                          real_labels, gen_labels, args.real, args.gen, class_match=not args.no_class_match)
    real, gen, matched = sel.real, sel.gen, sel.class_matched
    if log:
        print(f"fvd: protocol {args.protocol}: {len(real)} real of {len(real_all)}, "
              f"{len(gen)} generated of {len(gen_all)}{', class-matched' if matched else ''}", file=log)
    if sel.missing_classes:  # a warning even with --quiet: it changes what the accuracy means
        print(f"fvd: warning: the real clips have no class {', '.join(sel.missing_classes)} "
              f"({sel.missing_clips} generated clips); those clips are left out of the accuracy", file=sys.stderr)
    extractor = extractor or I3DExtractor(args.backend, args.i3d_weights)
    settings = dict(extractor.settings, frames=N_FRAMES, size=SIZE, resize="bilinear-half-pixel",
                    scale="x/127.5-1", version=CACHE_VERSION)
    cache_dir = None if args.no_cache else args.cache_dir
    feats, extract_stats = {}, {}
    for side, clips, where in (("real", real, args.real), ("gen", gen, args.gen)):
        cache = feature_cache.FeatureCache(cache_dir, where, settings)
        feats[side], extract_stats[side] = feature_cache.extract(
            clips, extractor, cache, N_FRAMES, SIZE, args.batch, side, log)
    fvd, details = frechet.frechet_distance_features(feats["real"], feats["gen"])

    result = {"fvd": round(fvd, 4), "protocol": args.protocol, "real_clips": len(real), "gen_clips": len(gen),
              "real_available": len(real_all), "gen_available": len(gen_all), "class_matched": matched,
              "frames": N_FRAMES, "size": SIZE, "gen_classes_missing": sel.missing_classes,
              "gen_clips_missing": sel.missing_clips}
    if real_labels is not None and gen_labels is not None:
        rl = [protocol.label_of(real_labels, c, args.real) for c in real]
        gl = [protocol.label_of(gen_labels, c, args.gen) for c in gen]
        acc, per_class = protocol.nearest_centroid_accuracy(feats["real"], rl, feats["gen"], gl)
        ref_acc, _ = protocol.nearest_centroid_accuracy(feats["real"], rl, feats["real"], rl)
        result.update(accuracy=round(acc, 6), accuracy_real=round(ref_acc, 6), accuracy_per_class=per_class)
    else:
        result.update(accuracy=None, accuracy_note="needs labels.csv in both sets")
    computed = sum(s["computed"] for s in extract_stats.values())
    extract_s = sum(s["seconds"] for s in extract_stats.values())
    result.update(seconds=round(time.perf_counter() - start, 3),
                  extract_clips_per_s=round(computed / extract_s, 4) if computed else None,
                  extract=extract_stats, backend=getattr(extractor, "backend", "custom"),
                  blas_threads=os.environ.get("OPENBLAS_NUM_THREADS"),
                  features=settings["features"], **{k: v for k, v in details.items()})
    return result


def main(argv=None, extractor=None):
    args = parse_args(argv)
    try:
        result = run(args, extractor)
    except (clip_io.ClipError, protocol.ProtocolError, frechet.FrechetError, i3d_weights.WeightsError) as e:
        print(f"fvd: error: {e}", file=sys.stderr)
        return 1
    except ImportError as e:
        print(f"fvd: error: {e} (the jax backend needs: pip install -r tools/fvd/requirements.txt)", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
