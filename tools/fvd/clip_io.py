"""Listing and decoding clips: video files or StyleGAN-V frame folders.

Decoding goes through the ffmpeg command-line tool (Debian package `ffmpeg`),
one process per clip, frames piped back as PPM so the size travels with them.
"""
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

import numpy as np

VIDEO_EXTS = {".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".gif", ".mpg", ".mpeg", ".ogv"}
IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".ppm", ".tif", ".tiff"}


class ClipError(Exception):
    pass


@dataclass
class Clip:
    name: str      # file name of a video, folder name of a frame folder
    path: str
    frames: tuple  # frame folder: its image files in name order; video: ()

    @property
    def is_video(self):
        return not self.frames


def _visible(names):
    return sorted(n for n in names if not n.startswith("."))


def list_clips(root):
    """All clips in root, in name order. Files that are neither videos nor folders
    (labels.csv, notes) are skipped."""
    if not os.path.isdir(root):
        raise ClipError(f"{root}: not a folder")
    clips = []
    for name in _visible(os.listdir(root)):
        path = os.path.join(root, name)
        if os.path.isdir(path):
            frames = tuple(f for f in _visible(os.listdir(path))
                           if os.path.splitext(f)[1].lower() in IMAGE_EXTS)
            if not frames:
                raise ClipError(f"{path}: clip folder holds no image frames ({', '.join(sorted(IMAGE_EXTS))})")
            clips.append(Clip(name, path, frames))
        elif os.path.splitext(name)[1].lower() in VIDEO_EXTS:
            clips.append(Clip(name, path, ()))
    if not clips:
        raise ClipError(f"{root}: no clips (expected video files {', '.join(sorted(VIDEO_EXTS))} "
                        f"or one folder of image frames per clip)")
    return clips


def fingerprint(clip, n_frames):
    """What the features depend on: names, sizes and mtimes of the files read."""
    try:
        if clip.is_video:
            st = os.stat(clip.path)
            return [clip.name, st.st_size, st.st_mtime_ns]
        files = clip.frames[:n_frames]
        return [clip.name, len(clip.frames)] + [
            [f, s.st_size, s.st_mtime_ns] for f, s in ((f, os.stat(os.path.join(clip.path, f))) for f in files)]
    except OSError as e:
        raise ClipError(f"{clip.path}: {e.strerror}") from e


def _parse_ppm_stream(data, path):
    frames, pos = [], 0
    while pos < len(data):
        fields, p = [], pos
        while len(fields) < 4:  # magic, width, height, maxval
            while p < len(data) and data[p:p + 1].isspace():
                p += 1
            start = p
            while p < len(data) and not data[p:p + 1].isspace():
                p += 1
            fields.append(data[start:p])
        if fields[0] != b"P6" or fields[3] != b"255":
            raise ClipError(f"{path}: unexpected decoder output")
        w, h = int(fields[1]), int(fields[2])
        p += 1  # single whitespace before the raster
        size = w * h * 3
        if p + size > len(data):
            raise ClipError(f"{path}: truncated decoder output")
        frames.append(np.frombuffer(data, np.uint8, size, p).reshape(h, w, 3))
        pos = p + size
    return frames


def _ffmpeg():
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise ClipError("ffmpeg not found on PATH (apt-get install ffmpeg)")
    return exe


def _decode(inputs, n_frames):
    """Runs ffmpeg; -xerror makes a corrupt frame fail the run instead of being skipped."""
    cmd = [_ffmpeg(), "-nostdin", "-v", "error", "-xerror", *inputs, "-fps_mode", "passthrough",
           "-frames:v", str(n_frames), "-f", "image2pipe", "-c:v", "ppm", "-"]
    proc = subprocess.run(cmd, capture_output=True)
    lines = proc.stderr.decode(errors="replace").strip().splitlines()
    return proc.returncode, proc.stdout, (lines[-1] if lines else "ffmpeg failed")


def read_clip(clip, n_frames=16):
    """First n_frames frames as uint8 (n_frames, H, W, 3) RGB."""
    if clip.is_video:
        rc, out, err = _decode(["-i", clip.path], n_frames)
        if rc != 0:
            raise ClipError(f"{clip.path}: cannot decode ({err})")
    else:
        if len(clip.frames) < n_frames:
            raise ClipError(f"{clip.path}: {len(clip.frames)} frames, FVD needs {n_frames}")
        paths = [os.path.abspath(os.path.join(clip.path, f)) for f in clip.frames[:n_frames]]
        # ffconcat list: one image per entry, each shown once, in name order
        with tempfile.NamedTemporaryFile("w", suffix=".ffconcat") as listing:
            listing.write("ffconcat version 1.0\n")
            for p in paths:
                quoted = p.replace("'", "'\\''")
                listing.write(f"file '{quoted}'\nduration 1\n")
            listing.flush()
            rc, out, err = _decode(["-f", "concat", "-safe", "0", "-i", listing.name], n_frames)
        if rc != 0:
            for p in paths:  # error path only: name the frame that does not decode
                frc, _, ferr = _decode(["-i", p], 1)
                if frc != 0:
                    raise ClipError(f"{p}: cannot decode ({ferr})")
            raise ClipError(f"{clip.path}: cannot decode ({err})")
    frames = _parse_ppm_stream(out, clip.path)
    if len(frames) < n_frames:
        raise ClipError(f"{clip.path}: {len(frames)} frames, FVD needs {n_frames}")
    if len({f.shape for f in frames}) != 1:
        raise ClipError(f"{clip.path}: frames differ in size")
    return np.stack(frames)


def _bilinear_taps(n_in, n_out):
    """Source indices and weights of PyTorch F.interpolate(mode='bilinear',
    align_corners=False, antialias=False): half-pixel centres, source index
    clamped to [0, n_in - 1]."""
    dst = np.arange(n_out, dtype=np.float64)
    src = np.maximum((dst + 0.5) * (n_in / n_out) - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    frac = (src - i0).astype(np.float32)
    return i0, i1, frac


def _bilinear_matrix(n_in, n_out):
    """The same interpolation as an (n_out, n_in) matrix (for tests)."""
    i0, i1, frac = _bilinear_taps(n_in, n_out)
    m = np.zeros((n_out, n_in), np.float32)
    np.add.at(m, (np.arange(n_out), i0), 1.0 - frac)
    np.add.at(m, (np.arange(n_out), i1), frac)
    return m


def _lerp(x, axis, size):
    i0, i1, frac = _bilinear_taps(x.shape[axis], size)
    shape = [1] * x.ndim
    shape[axis] = size
    frac = frac.reshape(shape)
    a = np.take(x, i0, axis=axis)
    return a + (np.take(x, i1, axis=axis) - a) * frac


def preprocess(frames, size=224):
    """uint8 (T, H, W, 3) -> float32 (T, size, size, 3) in [-1, 1]: bilinear resize of
    the 0..255 values (TATS / StyleGAN-V convention), then x / 127.5 - 1.
    Two-tap gathers, not BLAS: this runs beside the network's GEMMs."""
    x = frames.astype(np.float32)
    x = _lerp(_lerp(x, 1, size), 2, size)
    x *= np.float32(1 / 127.5)
    x -= np.float32(1.0)
    return x
