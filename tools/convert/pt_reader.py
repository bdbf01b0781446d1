"""Read a PyTorch `.pt` (zip format) without torch and without running its code.

A `.pt` is a zip: `<prefix>/data.pkl` (a pickle), `<prefix>/data/<key>` (raw
storage bytes), `<prefix>/byteorder`. Pickles can name any global and call it
(REDUCE), so the unpickler here resolves globals through an allow-list:
tensor-rebuild functions, storage types and dtypes of every kind, and
collections.OrderedDict. Every other global (argparse.Namespace in training
checkpoints, os.system in a hostile file) becomes an inert placeholder type:
calling or instantiating it only records its arguments.

Two ways in, one validator: `load_pt` returns every tensor as a numpy array
(a contiguous copy); `open_pt` returns `TensorRef`s (shape and dtype from the
pickle, every check below already applied) whose data is read, one tensor at
a time, only when asked, so a checkpoint larger than memory can be converted.
BF16 has no numpy dtype, so BF16 tensors come back as float32 (exact widening).

A .pt is as hostile as any download, so what it may make the reader hold is
bounded (the limits below, checked against the zip directory before anything
is read and again while reading, since a directory can lie).
"""
import collections
import io
import os
import pickle
import pickletools
import stat
import zipfile

import numpy as np

# ---- limits, stated once
# Zip entries: a 36-layer training checkpoint with optimizer state has about 1,000.
MAX_MEMBERS = 65536
# data.pkl: checkpoints' pickles are kilobytes; every pickle opcode byte can
# push an 8-byte reference, so this also bounds the unpickler's stack.
MAX_PICKLE_BYTES = 16 << 20
# A member may expand to at most this many times its stored size, plus SLACK.
# torch.save stores members uncompressed and weights deflate by under 1.2x,
# while a zip bomb of zeros reaches 1000x.
MAX_EXPANSION = 16
SLACK = 1 << 20
# Tensor dimensions (numpy's own limit is 64; par-video's safetensors reader takes 32).
MAX_DIMS = 32
# Sizes, strides and offsets fit in a signed 64-bit integer.
MAX_INDEX = (1 << 63) - 1


class PtError(ValueError):
    """One line of text: control characters from the file (a global's name,
    a value in a parser's message) are escaped."""
    def __init__(self, msg):
        super().__init__(one_line(msg))


def one_line(text):
    """`text` with C0/C1 controls and Unicode line separators escaped."""
    return "".join(f"\\u{ord(c):04x}" if ord(c) < 32 or 127 <= ord(c) < 160 or c in "\u2028\u2029" else c
                   for c in str(text))


def _available_memory():
    """MemAvailable from /proc/meminfo in bytes, or None where it cannot be read."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _open_regular(path):
    """Open `path` for reading without blocking (a FIFO would block open())
    and refuse anything but a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        raise PtError(f"{path}: cannot open ({e.strerror})")
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise PtError(f"{path}: not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


# torch storage class name -> numpy dtype code ("u2" for BFloat16: bits, widened later)
_STORAGES = {
    "FloatStorage": "f4", "DoubleStorage": "f8", "HalfStorage": "f2", "BFloat16Storage": "u2",
    "LongStorage": "i8", "IntStorage": "i4", "ShortStorage": "i2", "CharStorage": "i1",
    "ByteStorage": "u1", "BoolStorage": "?", "ComplexFloatStorage": "c8",
    "ComplexDoubleStorage": "c16", "UntypedStorage": "u1",
}
# torch dtype name -> numpy dtype ("u2" for bfloat16: bits, widened later)
_DTYPES = {
    "float32": "f4", "float": "f4", "float64": "f8", "double": "f8", "float16": "f2", "half": "f2",
    "bfloat16": "u2", "int64": "i8", "long": "i8", "int32": "i4", "int": "i4", "int16": "i2",
    "short": "i2", "int8": "i1", "uint8": "u1", "bool": "?", "complex64": "c8", "complex128": "c16",
}


class _DType:
    """A torch dtype or storage type as named in the pickle."""
    __slots__ = ("name", "np_code", "bf16")

    def __init__(self, name, np_code):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "np_code", np_code)
        object.__setattr__(self, "bf16", name in ("bfloat16", "BFloat16Storage"))

    def __setattr__(self, key, value):     # a pickle's BUILD must not retype a storage
        raise PtError(f"torch {self.name} cannot be modified")

    def __setstate__(self, state):
        raise PtError(f"torch {self.name} cannot be modified")

    def __repr__(self):
        return f"<torch {self.name}>"


class Opaque:
    """Stand-in for a global outside the allow-list. Never runs anything:
    constructing it (REDUCE, NEWOBJ, INST) or setting its state (BUILD) only
    records the arguments."""
    _global = "?"

    def __new__(cls, *args, **kwargs):
        obj = object.__new__(cls)
        obj.args, obj.state = args, None
        return obj

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        self.state = state

    def __repr__(self):
        return f"<opaque {self._global}>"


class _Storage:
    """A storage as the zip directory declares it: `size` elements of `dtype`
    (in the file's byte `order`) in member `info`; its bytes are read only by _Reader."""
    def __init__(self, info, dtype, bf16, stype, size, order):
        self.info, self.dtype, self.bf16, self.stype, self.size, self.order = info, dtype, bf16, stype, size, order

    def retyped(self, dtype, bf16, stype):
        """The same bytes as another element type (_rebuild_tensor_v3 on an untyped storage)."""
        nbytes = self.size * self.dtype.itemsize
        if nbytes % dtype.itemsize:
            raise PtError(f"storage of {nbytes} bytes is not a whole number of {stype}")
        return _Storage(self.info, dtype, bf16, stype, nbytes // dtype.itemsize, self.order)


class TensorRef:
    """A tensor of an open_pt archive, checked but not read: `shape`, `ndim`,
    `dtype` (of what read() returns) and `nbytes`; read() -> numpy array."""
    __slots__ = ("_reader", "storage", "offset", "shape", "stride", "dtype", "nbytes")

    def __init__(self, reader, storage, offset, shape, stride):
        self._reader, self.storage, self.offset = reader, storage, offset
        self.shape, self.stride = shape, stride
        self.dtype = np.dtype(np.float32) if storage.bf16 else storage.dtype.newbyteorder("=")
        count = 1
        for n in shape:
            count *= n
        self.nbytes = count * self.dtype.itemsize

    @property
    def ndim(self):
        return len(self.shape)

    def read(self):
        return self._reader.tensor(self)

    def __repr__(self):
        return f"<tensor {list(self.shape)} {self.dtype}>"


def _index(v, what):
    """A size, stride or offset from the pickle: a plain int in [0, MAX_INDEX]."""
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= MAX_INDEX:
        raise PtError(f"tensor {what} must be integers in [0, 2^63), got a {type(v).__name__}"
                      + ("" if not isinstance(v, int) or isinstance(v, bool) else " out of range"))
    return v


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, load_storage, make_tensor, budget):
        super().__init__(file)
        self._load_storage = load_storage
        self._make_tensor = make_tensor      # (storage, offset, size, stride) -> array or TensorRef
        self.opaque = set()
        self.budget = budget          # bytes the tensors built may still take

    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor", "_rebuild_parameter",
                                                 "_rebuild_parameter_with_state", "_rebuild_tensor_v3"):
            return getattr(self, name)
        if module == "torch._tensor" and name == "_rebuild_from_type_v2":
            return self._rebuild_from_type_v2
        if module in ("torch", "torch.storage") and name in _STORAGES:
            return _DType(name, _STORAGES[name])
        if module == "torch" and name in _DTYPES:
            return _DType(name, _DTYPES[name])
        if (module, name) in (("torch.nn.parameter", "Parameter"), ("torch", "Tensor")):
            return _DType(name, None)     # only meaningful as _rebuild_from_type_v2's new_type
        key = f"{module}.{name}"
        self.opaque.add(key)
        return type(f"Opaque[{key}]", (Opaque,), {"_global": key})

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], _DType)
                and pid[1].np_code and isinstance(pid[2], str)):
            raise PtError(f"unsupported persistent id (a {type(pid).__name__}, not ('storage', type, key, ...))")
        _, stype, key, _location, numel = pid
        return self._load_storage(key, stype, numel)

    # ---- allow-listed rebuild functions (our own code, given pickle data)

    def _view(self, storage, offset, size, stride):
        if not isinstance(storage, _Storage):
            raise PtError(f"tensor rebuilt from {type(storage).__name__}, not a storage")
        if not isinstance(size, (tuple, list)) or not isinstance(stride, (tuple, list)):
            raise PtError("tensor size and stride must be tuples")
        if len(size) > MAX_DIMS or len(size) != len(stride):
            raise PtError(f"tensor has {len(size)} sizes and {len(stride)} strides (at most {MAX_DIMS} dimensions)")
        offset = _index(offset, "offset")
        size = tuple(_index(s, "sizes") for s in size)
        stride = tuple(_index(s, "strides") for s in stride)
        count = 1
        for n in size:
            count *= n
        nbytes = count * storage.dtype.itemsize * (2 if storage.bf16 else 1)
        if nbytes > self.budget:      # stride-0 views could otherwise expand a small storage
            raise PtError(f"tensor of {count} elements would take {nbytes} bytes, more than the "
                          f"{self.budget} bytes left of what the file can make the reader hold")
        if count:
            last = offset + sum((n - 1) * s for n, s in zip(size, stride))
            if last >= storage.size:
                raise PtError(f"tensor view (offset {offset}, size {size}, stride {stride}) "
                              f"past the end of its storage ({storage.size} elements)")
        self.budget -= nbytes
        return self._make_tensor(storage, offset, size, stride)

    def _rebuild_tensor(self, storage, storage_offset, size, stride):
        return self._view(storage, storage_offset, size, stride)

    def _rebuild_tensor_v2(self, storage, storage_offset, size, stride, requires_grad=False,
                           backward_hooks=None, metadata=None):
        return self._view(storage, storage_offset, size, stride)

    def _rebuild_tensor_v3(self, storage, storage_offset, size, stride, requires_grad, backward_hooks,
                           dtype, metadata=None):
        if not isinstance(dtype, _DType) or not dtype.np_code:
            raise PtError(f"unsupported tensor dtype (a {type(dtype).__name__})")
        if not isinstance(storage, _Storage):
            raise PtError("tensor rebuilt from a non-storage")
        typed = storage.retyped(np.dtype(dtype.np_code).newbyteorder(storage.order), dtype.bf16, dtype.name)
        return self._view(typed, storage_offset, size, stride)

    def _rebuild_parameter(self, data, requires_grad=False, backward_hooks=None):
        if not isinstance(data, (np.ndarray, TensorRef)):
            raise PtError("parameter rebuilt from a non-tensor")
        return data

    def _rebuild_parameter_with_state(self, data, requires_grad, backward_hooks, state):
        return self._rebuild_parameter(data)

    def _rebuild_from_type_v2(self, func, new_type, args, state):
        allowed = (self._rebuild_tensor, self._rebuild_tensor_v2, self._rebuild_tensor_v3, self._rebuild_parameter)
        if func not in allowed or not isinstance(args, tuple):
            raise PtError("tensor subclass rebuilt through a function outside the allow-list")
        return func(*args)


class PtFile:
    """The unpickled object (`obj`) and the names of the globals made opaque."""
    def __init__(self, obj, opaque, prefix):
        self.obj, self.opaque, self.prefix = obj, sorted(opaque), prefix


class PtArchive(PtFile):
    """open_pt's result: `obj` holds TensorRefs, readable while the archive is open
    (a context manager; close() ends it)."""
    def __init__(self, obj, opaque, prefix, zf, fp):
        super().__init__(obj, opaque, prefix)
        self._zf, self._fp = zf, fp

    def close(self):
        self._zf.close()
        self._fp.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _check_pickle(path, data):
    """Walk the opcodes (pickletools parses, it runs nothing) before unpickling.
    The C unpickler sizes its memo by the largest index a PUT names and
    allocates a counted string before reading it, so 5 bytes naming memo
    slot 2^32 would make it zero 64 GB: every counted argument must lie
    inside the data and every memo index must be below the opcode count."""
    n_ops, top = 0, -1
    try:
        for op, arg, _pos in pickletools.genops(io.BytesIO(data)):
            n_ops += 1
            if op.name in ("PUT", "BINPUT", "LONG_BINPUT"):
                top = max(top, int(arg))
    except Exception as e:      # unknown opcode, truncated argument, no STOP
        raise PtError(f"{path}: data.pkl is not a valid pickle ({type(e).__name__}: {str(e)[:160]})")
    if top >= n_ops:
        raise PtError(f"{path}: data.pkl names memo slot {top} in a pickle of {n_ops} opcodes")


def _check_directory(path, zf, file_size, lazy):
    """Refuse, from the zip directory alone, an archive that would make the
    reader hold more than the limits allow: all members (load_pt) or the
    largest (open_pt, which holds one at a time). -> ({name: ZipInfo}, total bytes)."""
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise PtError(f"{path}: {len(infos)} zip members, more than the {MAX_MEMBERS} a checkpoint may hold")
    members, total, largest = {}, 0, 0
    for info in infos:
        if info.filename in members:
            raise PtError(f"{path}: zip member {info.filename!r:.200} appears twice")
        members[info.filename] = info
        if info.flag_bits & 0x1:
            raise PtError(f"{path}: zip member {info.filename!r:.200} is encrypted")
        limit = info.compress_size * MAX_EXPANSION + SLACK
        if info.file_size > limit:
            raise PtError(f"{path}: zip member {info.filename!r:.200} declares {info.file_size} bytes from "
                          f"{info.compress_size} stored (more than {MAX_EXPANSION}x expansion)")
        if info.compress_size > file_size:
            raise PtError(f"{path}: zip member {info.filename!r:.200} declares {info.compress_size} stored bytes "
                          f"in a {file_size}-byte file")
        total += info.file_size
        largest = max(largest, info.file_size)
    need, have = (largest if lazy else total), _available_memory()
    if have is not None and need > have:
        raise PtError(f"{path}: reading it needs about {need / 1e9:.1f} GB of memory, "
                      f"{have / 1e9:.1f} GB is available")
    return members, total


# Bytes a member is read in: what reading holds besides the tensor itself.
CHUNK = 1 << 24


def _stream_member(path, zf, info, limit=None):
    """A member's bytes in chunks of at most CHUNK, at most its declared size (and
    `limit`), counted while decompressing; a member that yields more or less than
    declared, or fails its CRC, is refused (after its last chunk)."""
    want = info.file_size
    if limit is not None and want > limit:
        raise PtError(f"{path}: {info.filename!r:.200} is {want} bytes, more than the {limit} allowed")
    got = 0
    try:
        with zf.open(info) as f:
            while True:
                chunk = f.read(min(CHUNK, want - got + 1))
                if not chunk:
                    break
                got += len(chunk)
                if got > want:
                    raise PtError(f"{path}: {info.filename!r:.200} holds more than its declared {want} bytes")
                yield chunk
    except PtError:
        raise
    except Exception as e:     # bad CRC, truncated or corrupt deflate data, unknown compression
        raise PtError(f"{path}: cannot read {info.filename!r:.200} ({type(e).__name__}: {e})")
    if got != want:
        raise PtError(f"{path}: {info.filename!r:.200} holds {got} bytes, its directory entry says {want}")


def _read_member(path, zf, info, limit=None):
    """A whole member's bytes, checked as _stream_member checks them."""
    return b"".join(_stream_member(path, zf, info, limit))


def _contiguous(size, stride):
    """Whether a view with these sizes and strides (in elements) is row-major dense."""
    step = 1
    for n, s in zip(reversed(size), reversed(stride)):
        if n != 1 and s != step:
            return False
        step *= n
    return True


class _Reader:
    """Storages declared by the directory, checked against the pickle, and the
    one way tensor data is read. load_pt reads each storage once and keeps it
    (`cache`); open_pt reads only the tensors asked for, one member pass each,
    the passes bounded in all by what the file could make load_pt read."""
    def __init__(self, path, zf, members, prefix, order, total, cache):
        self.path, self.zf, self.members, self.prefix, self.order = path, zf, members, prefix, order
        self.cache, self.storages = cache, {}
        self.stream_left = MAX_EXPANSION * total + SLACK

    def storage(self, key, stype, numel):
        """persistent_load: the storage `key` as its directory entry declares it."""
        if key not in self.storages:
            name = f"{self.prefix}data/{key}"
            if name not in self.members:
                raise PtError(f"{self.path}: storage {name!r:.200} missing from the archive")
            info = self.members[name]
            dt = np.dtype(stype.np_code).newbyteorder(self.order)
            if info.file_size % dt.itemsize:
                raise PtError(f"{self.path}: storage {key!r:.200} has {info.file_size} bytes, "
                              f"not whole {stype.name} elements")
            self.storages[key] = _Storage(info, dt, stype.bf16, stype.name, info.file_size // dt.itemsize, self.order)
        st = self.storages[key]
        if st.stype != stype.name:
            raise PtError(f"{self.path}: storage {key!r:.200} used as both {st.stype} and {stype.name}")
        if isinstance(numel, int) and st.size < numel and stype.name != "UntypedStorage":
            raise PtError(f"{self.path}: storage {key!r:.200} holds {st.size} elements, pickle says {numel}")
        return st

    def _member_bytes(self, info):
        """A whole member as a uint8 array (one allocation, filled chunk by chunk)."""
        buf = np.empty(info.file_size, np.uint8)
        at = 0
        for chunk in _stream_member(self.path, self.zf, info):
            buf[at:at + len(chunk)] = np.frombuffer(chunk, np.uint8)
            at += len(chunk)
        return buf

    def _span(self, info, start, out):
        """Bytes start..start + out.size of a member into `out` (uint8), the member
        read through to its end so that its size and CRC are checked."""
        at, end = 0, start + out.size
        for chunk in _stream_member(self.path, self.zf, info):
            lo, hi = max(start, at), min(end, at + len(chunk))
            if lo < hi:
                out[lo - start:hi - start] = np.frombuffer(chunk, np.uint8, hi - lo, lo - at)
            at += len(chunk)

    def tensor(self, ref):
        """The array a TensorRef names (row-major, native order, BF16 widened)."""
        st, size, stride, offset = ref.storage, ref.shape, ref.stride, ref.offset
        count = ref.nbytes // ref.dtype.itemsize
        item = st.dtype.itemsize
        if count == 0:
            out = np.zeros(size, dtype=st.dtype)
        elif self.cache is not None:
            name = st.info.filename
            if name not in self.cache:
                self.cache[name] = self._member_bytes(st.info)
            base = self.cache[name].view(st.dtype)[offset:]
            out = np.lib.stride_tricks.as_strided(base, size, [s * item for s in stride]).copy()
        else:
            if st.info.file_size > self.stream_left:
                raise PtError(f"{self.path}: reading {st.info.filename!r:.200} again would read more than the "
                              f"{MAX_EXPANSION}x the file holds (its tensors share storages)")
            self.stream_left -= st.info.file_size
            if _contiguous(size, stride):
                out = np.empty(count, st.dtype)
                self._span(st.info, offset * item, out.view(np.uint8))
                out = out.reshape(size)
            else:
                base = self._member_bytes(st.info).view(st.dtype)[offset:]
                out = np.lib.stride_tricks.as_strided(base, size, [s * item for s in stride]).copy()
                del base
        if not out.dtype.isnative:
            out = out.astype(out.dtype.newbyteorder("="))
        if st.bf16:
            wide = out.astype(np.uint32)
            wide <<= 16
            out = wide.view(np.float32)
        return out


def _open_zip(path, fp):
    try:
        return zipfile.ZipFile(fp)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as e:
        raise PtError(f"{path}: not a PyTorch zip checkpoint ({e}); legacy (pre-1.6) .pt files are not supported")


def load_pt(path):
    """Read a zip-format .pt, every tensor as an array -> PtFile. Raises PtError
    with a one-line reason."""
    with _open_regular(path) as fp:
        file_size = os.fstat(fp.fileno()).st_size
        with _open_zip(path, fp) as zf:
            obj, opaque, prefix = _load_archive(path, zf, file_size, lazy=False)
            return PtFile(obj, opaque, prefix)


def open_pt(path):
    """Open a zip-format .pt with every check of load_pt, tensors as TensorRefs
    read on demand -> PtArchive (close it, or use `with`). Raises PtError."""
    fp = _open_regular(path)
    try:
        file_size = os.fstat(fp.fileno()).st_size
        zf = _open_zip(path, fp)
        obj, opaque, prefix = _load_archive(path, zf, file_size, lazy=True)
        return PtArchive(obj, opaque, prefix, zf, fp)
    except BaseException:
        fp.close()
        raise


def _load_archive(path, zf, file_size, lazy):
    members, total = _check_directory(path, zf, file_size, lazy)
    pkls = [n for n in members if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(pkls) != 1:
        raise PtError(f"{path}: expected one <archive>/data.pkl, found {len(pkls)}")
    prefix = pkls[0][: -len("data.pkl")]
    order = "little"
    if prefix + "byteorder" in members:
        order = _read_member(path, zf, members[prefix + "byteorder"], 64).decode("ascii", "replace").strip()
        if order not in ("little", "big"):
            raise PtError(f"{path}: unknown byteorder {order!r:.40}")
    reader = _Reader(path, zf, members, prefix, "<" if order == "little" else ">", total,
                     cache=None if lazy else {})

    def make_tensor(storage, offset, size, stride):
        ref = TensorRef(reader, storage, offset, size, stride)
        return ref if lazy else reader.tensor(ref)

    data = _read_member(path, zf, members[pkls[0]], MAX_PICKLE_BYTES)
    _check_pickle(path, data)
    up = _Unpickler(io.BytesIO(data), reader.storage, make_tensor, budget=MAX_EXPANSION * total + SLACK)
    try:
        obj = up.load()
    except PtError as e:
        raise PtError(f"{path}: {e}" if not str(e).startswith(f"{path}:") else str(e))
    except MemoryError:
        raise PtError(f"{path}: out of memory while unpickling")
    except Exception as e:   # malformed pickle: one clear line, nothing ran
        raise PtError(f"{path}: cannot unpickle ({type(e).__name__}: {str(e)[:200]})")
    return obj, up.opaque, prefix
