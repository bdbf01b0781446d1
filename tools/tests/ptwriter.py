"""Write PyTorch-zip-format `.pt` files opcode by opcode (no torch), for tests.

Values: dict (str keys), list, str, int, float, bool, None, numpy arrays
(saved as torch tensors), `Tensor` (a view with explicit storage, offset,
size, stride), and `Call` (GLOBAL + args + REDUCE: how a hostile pickle
runs a function on load).
"""
import io
import struct
import zipfile

import numpy as np

_STORAGE = {np.dtype("float32"): "FloatStorage", np.dtype("float16"): "HalfStorage",
            np.dtype("float64"): "DoubleStorage", np.dtype("int64"): "LongStorage",
            np.dtype("int32"): "IntStorage", np.dtype("uint8"): "ByteStorage"}


class Tensor:
    """A view into a named storage: storage is (key, numpy 1-d array[, storage class name])."""
    def __init__(self, key, storage, offset, size, stride, storage_type=None, v3_dtype=None):
        """v3_dtype: write torch._utils._rebuild_tensor_v3 with this torch dtype name
        (the storage then is usually UntypedStorage: raw bytes)."""
        self.key, self.storage, self.offset = key, storage, offset
        self.size, self.stride = tuple(size), tuple(stride)
        self.storage_type = storage_type or _STORAGE[storage.dtype]
        self.v3_dtype = v3_dtype


class Call:
    def __init__(self, module, name, *args, newobj=False, state=None):
        self.module, self.name, self.args, self.newobj, self.state = module, name, args, newobj, state


class _Writer:
    def __init__(self):
        self.out, self.storages, self.auto = io.BytesIO(), {}, 0

    def w(self, b):
        self.out.write(b)

    def global_(self, module, name):
        self.w(b"c" + module.encode() + b"\n" + name.encode() + b"\n")

    def value(self, v):
        if isinstance(v, Call):
            self.global_(v.module, v.name)
            self.tuple_(v.args)
            self.w(b"\x81" if v.newobj else b"R")
            if v.state is not None:
                self.value(v.state)
                self.w(b"b")                      # BUILD
        elif isinstance(v, np.ndarray):
            self.auto += 1
            flat = np.ascontiguousarray(v).reshape(-1)
            strides = [int(s // v.itemsize) for s in np.ascontiguousarray(v).strides] if v.ndim else []
            self.value(Tensor(f"t{self.auto}", flat, 0, v.shape, strides))
        elif isinstance(v, Tensor):
            self.storages[v.key] = v.storage
            self.global_("torch._utils", "_rebuild_tensor_v3" if v.v3_dtype else "_rebuild_tensor_v2")
            self.w(b"(")
            self.w(b"(")
            self.value("storage")
            self.global_("torch", v.storage_type)
            self.value(v.key)
            self.value("cpu")
            self.value(int(v.storage.size))
            self.w(b"tQ")                         # TUPLE, BINPERSID
            self.value(int(v.offset))
            self.tuple_(v.size)
            self.tuple_(v.stride)
            self.w(b"\x89")                       # NEWFALSE
            self.global_("collections", "OrderedDict")
            self.w(b")R")
            if v.v3_dtype:
                self.global_("torch", v.v3_dtype)
            self.w(b"tR")
        elif isinstance(v, dict):
            self.w(b"}(")
            for k, x in v.items():
                self.value(k)
                self.value(x)
            self.w(b"u")
        elif isinstance(v, (list, tuple)):
            if isinstance(v, tuple):
                self.tuple_(v)
            else:
                self.w(b"](")
                for x in v:
                    self.value(x)
                self.w(b"e")
        elif isinstance(v, bool):
            self.w(b"\x88" if v else b"\x89")
        elif isinstance(v, int) and -2 ** 31 <= v < 2 ** 31:
            self.w(b"J" + struct.pack("<i", v))
        elif isinstance(v, int):                  # LONG1: any size of integer
            enc = v.to_bytes((v.bit_length() + 8) // 8, "little", signed=True)
            self.w(b"\x8a" + bytes([len(enc)]) + enc)
        elif isinstance(v, float):
            self.w(b"G" + struct.pack(">d", v))
        elif isinstance(v, str):
            b = v.encode()
            self.w(b"X" + struct.pack("<I", len(b)) + b)
        elif v is None:
            self.w(b"N")
        else:
            raise TypeError(type(v))

    def tuple_(self, items):
        self.w(b"(")
        for x in items:
            self.value(x)
        self.w(b"t")


def pickle_bytes(obj):
    w = _Writer()
    w.w(b"\x80\x02")
    w.value(obj)
    w.w(b".")
    return w.out.getvalue(), w.storages


def write_pt(path, obj, archive="archive", raw_pickle=None):
    data, storages = pickle_bytes(obj)
    if raw_pickle is not None:
        data = raw_pickle
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{archive}/data.pkl", data)
        z.writestr(f"{archive}/byteorder", "little")
        z.writestr(f"{archive}/version", "3\n")
        for key, arr in storages.items():
            z.writestr(f"{archive}/data/{key}", np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes())
