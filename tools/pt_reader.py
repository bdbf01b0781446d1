"""Read a PyTorch `.pt` (zip format) without torch and without running its code.

A `.pt` is a zip: `<prefix>/data.pkl` (a pickle), `<prefix>/data/<key>` (raw
storage bytes), `<prefix>/byteorder`. Pickles can name any global and call it
(REDUCE), so the unpickler here resolves globals through an allow-list:
tensor-rebuild functions, storage types and dtypes of every kind, and
collections.OrderedDict. Every other global (argparse.Namespace in training
checkpoints, os.system in a hostile file) becomes an inert placeholder type:
calling or instantiating it only records its arguments.

Tensors come back as numpy arrays (contiguous copies). BF16 has no numpy
dtype, so BF16 tensors come back as float32 (exact widening).
"""
import collections
import io
import pickle
import zipfile

import numpy as np


class PtError(ValueError):
    pass


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
    def __init__(self, name, np_code):
        self.name, self.np_code, self.bf16 = name, np_code, name in ("bfloat16", "BFloat16Storage")

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
    def __init__(self, array, bf16):
        self.array, self.bf16 = array, bf16


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, load_storage):
        super().__init__(file)
        self._load_storage = load_storage
        self.opaque = set()

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
            raise PtError(f"unsupported persistent id {pid!r:.80}")
        _, stype, key, _location, numel = pid
        return self._load_storage(key, stype, numel)

    # ---- allow-listed rebuild functions (our own code, given pickle data)

    @staticmethod
    def _view(storage, offset, size, stride):
        if not isinstance(storage, _Storage):
            raise PtError(f"tensor rebuilt from {type(storage).__name__}, not a storage")
        size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
        if len(size) != len(stride) or offset < 0 or any(s < 0 for s in size) or any(s < 0 for s in stride):
            raise PtError(f"bad tensor geometry size={size} stride={stride} offset={offset}")
        arr = storage.array
        if 0 in size:
            out = np.zeros(size, dtype=arr.dtype)
        else:
            last = offset + sum((n - 1) * s for n, s in zip(size, stride))
            if last >= arr.size:
                raise PtError(f"tensor view (offset {offset}, size {size}, stride {stride}) "
                              f"past the end of its storage ({arr.size} elements)")
            base = arr[offset:]
            out = np.lib.stride_tricks.as_strided(base, size, [s * arr.itemsize for s in stride]).copy()
        if storage.bf16:
            out = (out.astype(np.uint32) << 16).view(np.float32)
        return out

    def _rebuild_tensor(self, storage, storage_offset, size, stride):
        return self._view(storage, storage_offset, size, stride)

    def _rebuild_tensor_v2(self, storage, storage_offset, size, stride, requires_grad=False,
                           backward_hooks=None, metadata=None):
        return self._view(storage, storage_offset, size, stride)

    def _rebuild_tensor_v3(self, storage, storage_offset, size, stride, requires_grad, backward_hooks,
                           dtype, metadata=None):
        if not isinstance(dtype, _DType) or not dtype.np_code:
            raise PtError(f"unsupported tensor dtype {dtype!r}")
        if not isinstance(storage, _Storage):
            raise PtError("tensor rebuilt from a non-storage")
        raw = storage.array.view(np.uint8)      # untyped bytes, already in native order
        if raw.size % np.dtype(dtype.np_code).itemsize:
            raise PtError(f"storage of {raw.size} bytes is not a whole number of {dtype.name}")
        return self._view(_Storage(raw.view(dtype.np_code), dtype.bf16), storage_offset, size, stride)

    def _rebuild_parameter(self, data, requires_grad=False, backward_hooks=None):
        if not isinstance(data, np.ndarray):
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


def load_pt(path):
    """Read a zip-format .pt -> PtFile. Raises PtError with a one-line reason."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise PtError(f"{path}: not a PyTorch zip checkpoint ({e}); legacy (pre-1.6) .pt files are not supported")
    with zf:
        pkls = [n for n in zf.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkls) != 1:
            raise PtError(f"{path}: expected one <archive>/data.pkl, found {len(pkls)}")
        prefix = pkls[0][: -len("data.pkl")]
        order = "little"
        if prefix + "byteorder" in zf.namelist():
            order = zf.read(prefix + "byteorder").decode().strip()
            if order not in ("little", "big"):
                raise PtError(f"{path}: unknown byteorder {order!r}")
        cache = {}

        def load_storage(key, stype, numel):
            if key not in cache:
                name = f"{prefix}data/{key}"
                try:
                    raw = zf.read(name)
                except KeyError:
                    raise PtError(f"{path}: storage {name} missing from the archive")
                dt = np.dtype(stype.np_code).newbyteorder("<" if order == "little" else ">")
                if len(raw) % dt.itemsize:
                    raise PtError(f"{path}: storage {key} has {len(raw)} bytes, not whole {stype.name} elements")
                arr = np.frombuffer(raw, dtype=dt).astype(dt.newbyteorder("="))
                cache[key] = _Storage(arr, stype.bf16)
            st = cache[key]
            if isinstance(numel, int) and st.array.size < numel and stype.name != "UntypedStorage":
                raise PtError(f"{path}: storage {key} holds {st.array.size} elements, pickle says {numel}")
            return st

        up = _Unpickler(io.BytesIO(zf.read(pkls[0])), load_storage)
        try:
            obj = up.load()
        except PtError:
            raise
        except Exception as e:   # malformed pickle: one clear line, nothing ran
            raise PtError(f"{path}: cannot unpickle ({type(e).__name__}: {e})")
        return PtFile(obj, up.opaque, prefix)
