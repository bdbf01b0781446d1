#!/usr/bin/env python3
"""Write Tests/Fixtures/pt/torch_dtypes.pt with real torch.save (needs torch; run once).

The CI test tools/tests/test_pt_reader.py reads it without torch and checks
every tensor against numpy: dtypes (f32, bf16, f16, i64, bool), a transposed
view, an offset slice, a Parameter, a strided bf16 view.
"""
import collections
import sys

import torch


def main(path="Tests/Fixtures/pt/torch_dtypes.pt"):
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    sd = collections.OrderedDict()
    sd["f32"] = base.clone()
    sd["f32_t"] = base.t()
    sd["f32_slice"] = base[1:3, 2:5]
    sd["bf16"] = (base / 7).to(torch.bfloat16)
    sd["f16"] = (base / 7).to(torch.float16)
    sd["i64"] = torch.arange(5)
    sd["bool"] = torch.tensor([True, False])
    sd["param"] = torch.nn.Parameter(torch.ones(3))
    torch.save({"model": sd, "steps": 3, "bf16_view": (base / 7).to(torch.bfloat16)[::2, 1:]}, path)


if __name__ == "__main__":
    main(*sys.argv[1:])
