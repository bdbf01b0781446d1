#!/usr/bin/env python3
"""Real SynthAction-101 clips as an FVD reference set (numpy only, no Pillow).

  python3 -m tools.eval.synthaction_reference -o DIR --count N [--split test] [--start 0]

Writes DIR/<clip>/000000.png ... (one frame folder per clip, 17 frames of
64 x 64, the layout `par-video fvd` and tools/fvd read) and DIR/labels.csv
(clip,label; the label is the class id, as `par-video batch` writes it).
Item i of a split is class i mod 101, so any prefix is class-balanced and
`par-video batch --count N --labels DIR/labels.csv` generates a matching set.
DIR must not exist; it appears only when complete (written as DIR.partial-PID).
"""
import argparse
import csv
import os
import shutil
import struct
import sys
import zlib

from tools.train import synthaction as S

MAX_COUNT = 1 << 20


def png_bytes(frame):
    """An 8-bit RGB PNG of a (H, W, 3) uint8 array (filter 0 on every row)."""
    h, w, _ = frame.shape
    raw = b"".join(b"\x00" + frame[y].tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def write_set(out, count, split="test", start=0):
    if os.path.lexists(out):
        raise SystemExit(f"synthaction_reference: error: {out} exists (give a new folder)")
    parent = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(parent):
        raise SystemExit(f"synthaction_reference: error: folder {parent} does not exist")
    tmp = os.path.join(parent, f".{os.path.basename(os.path.abspath(out))}.partial-{os.getpid()}")
    os.mkdir(tmp)
    try:
        rows = []
        for i in range(start, start + count):
            c, seed = S.split_item(split, i)
            name = f"{split}_{i:06d}"
            d = os.path.join(tmp, name)
            os.mkdir(d)
            for f, frame in enumerate(S.clip(c, seed)):
                with open(os.path.join(d, f"{f:06d}.png"), "wb") as fh:
                    fh.write(png_bytes(frame))
            rows.append((name, c))
        with open(os.path.join(tmp, "labels.csv"), "w", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(["clip", "label"])
            w.writerows(rows)
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def main(argv=None):
    p = argparse.ArgumentParser(prog="synthaction_reference", description=__doc__.split("\n")[0])
    p.add_argument("-o", "--out", required=True, help="new folder to write")
    p.add_argument("--count", type=int, required=True, help=f"clips, 1 ... {MAX_COUNT}")
    p.add_argument("--split", choices=["test", "train"], default="test",
                   help="test: held-out seeds, the reference for the built-in model (default)")
    p.add_argument("--start", type=int, default=0, help="index of the first item of the split")
    a = p.parse_args(argv)
    if not 1 <= a.count <= MAX_COUNT:
        p.error(f"--count {a.count}: must be in 1...{MAX_COUNT}")
    if a.start < 0 or a.start + a.count > MAX_COUNT * S.NUM_CLASSES:
        p.error(f"--start {a.start}: out of range")
    write_set(a.out, a.count, a.split, a.start)
    print(f"wrote {a.count} {a.split} clips to {a.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
