"""A configurable MAGVIT-v2 (FSQ) causal 3D video tokenizer in PyTorch.

Written from reading NBP's `nbp/magvit2.py`; module nesting is chosen so the
state-dict names and tensor layouts are NBP's (`encoder_layers.*`,
`decoder_layers.*`, `quantizers.*`). The layer list is expanded from a small
dict config, documented in docs/TOKENIZER.md; NBP_UCF_CONFIG reproduces NBP's
UCF-101 tokenizer and SMALL_CONFIG is par-video's built-in one.

Tensors are (B, C, T, H, W); pixels in [0, 1] (the decoder output is not
clamped here; clamp when turning it into pixels).
"""
from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

# NBP's UCF-101 tokenizer: one definition, shared with the numpy reference.
from tools.reference.magvit2_reference import NBP_UCF_CONFIG

# par-video's built-in tokenizer: 17 x 64 x 64 pixels <-> 5 x 16 x 16 tokens (4x in time and
# space: PAR's video cube), 1000 codes.
SMALL_CONFIG = {
    "in_channels": 3, "embed_dim": 4, "fsq_levels": [8, 5, 5, 5],
    "norm_groups": 1, "norm_eps": 1e-5, "kernel": 3,
    "encoder": {"channels": [8, 16, 32, 64], "res_units": [0, 1, 1, 2],
                "down": [[1, 2, 2], [2, 2, 2], [2, 1, 1]]},
    "decoder": {"channels": [64, 32, 16, 16], "res_units": [3, 2, 1, 0],
                "up": [[2, 1, 1], [2, 2, 2], [1, 2, 2]]},
    "frames": 17, "size": 64,
}


class Swish(nn.Module):
    """x * sigmoid(beta * x) with a learned per-channel beta (NBP's `beta`, shape (1, C, 1, 1, 1))."""

    def __init__(self, channels: int):
        super().__init__()
        self.beta = nn.Parameter(torch.ones(1, channels, 1, 1, 1))

    def forward(self, x):
        return x * torch.sigmoid(self.beta * x)


class GroupNorm3D(nn.GroupNorm):
    """GroupNorm applied to every frame on its own: statistics over (C/groups, H, W) per (b, t)."""

    def forward(self, x):
        b, c, t, h, w = x.shape
        y = x.transpose(1, 2).reshape(b * t, c, h, w)
        y = super().forward(y)
        return y.reshape(b, t, c, h, w).transpose(1, 2)


class CausalConv3d(nn.Module):
    """Conv3d after edge-replication padding: 2*(kt//2) frames in front, none behind, k//2 each side in space."""

    def __init__(self, cin: int, cout: int, kernel, stride=(1, 1, 1)):
        super().__init__()
        kt, kh, kw = (kernel,) * 3 if isinstance(kernel, int) else kernel
        assert kh % 2 == 1 and kw % 2 == 1
        self.pad = (kw // 2, kw // 2, kh // 2, kh // 2, 2 * (kt // 2), 0)
        self.conv = nn.Conv3d(cin, cout, (kt, kh, kw), stride=tuple(stride))

    def forward(self, x):
        if any(self.pad):
            x = F.pad(x, self.pad, mode="replicate")
        return self.conv(x)


class Residual(nn.Module):
    """fn(x) + residual_fn(x); the names `fn` / `residual_fn` are NBP's."""

    def __init__(self, fn: nn.Module, residual_fn: nn.Module | None = None):
        super().__init__()
        self.fn = fn
        self.residual_fn = residual_fn if residual_fn is not None else nn.Identity()

    def forward(self, x):
        return self.fn(x) + self.residual_fn(x)


def residual_unit(cin: int, cout: int, kernel: int, groups: int, eps: float) -> Residual:
    fn = nn.Sequential(
        GroupNorm3D(groups, cin, eps=eps), Swish(cin), CausalConv3d(cin, cout, kernel),
        GroupNorm3D(groups, cout, eps=eps), Swish(cout), CausalConv3d(cout, cout, kernel),
    )
    shortcut = nn.Sequential(CausalConv3d(cin, cout, 1)) if cin != cout else None
    return Residual(fn, shortcut)


class Depth2Space3D(nn.Module):
    """Channels split as (t_bs, h_bs, w_bs, c_out), block factors outermost; drops t_bs-1 leading frames."""

    def __init__(self, factors):
        super().__init__()
        self.factors = tuple(factors)

    def forward(self, x):
        b, c, t, h, w = x.shape
        ft, fh, fw = self.factors
        co = c // (ft * fh * fw)
        x = x.reshape(b, ft, fh, fw, co, t, h, w).permute(0, 4, 5, 1, 6, 2, 7, 3)
        x = x.reshape(b, co, t * ft, h * fh, w * fw)
        return x[:, :, ft - 1:] if ft > 1 else x


class FSQ(nn.Module):
    """Finite scalar quantization, NBP's formulas; no parameters when dim == len(levels)."""

    def __init__(self, levels):
        super().__init__()
        levels = [int(v) for v in levels]
        basis = [1]
        for v in levels[:-1]:
            basis.append(basis[-1] * v)
        self.register_buffer("_levels", torch.tensor(levels, dtype=torch.int32), persistent=False)
        self.register_buffer("_basis", torch.tensor(basis, dtype=torch.int32), persistent=False)
        self.codebook_size = math.prod(levels)

    def bound(self, z, eps: float = 1e-3):
        levels = self._levels.to(z.dtype)
        half_l = (levels - 1) * (1 - eps) / 2
        offset = torch.where(self._levels % 2 == 0, 0.5, 0.0).to(z.dtype)
        shift = torch.tan(offset / half_l)
        return torch.tanh(z + shift) * half_l - offset

    def quantize(self, z):
        """z (..., d) -> code values in [-1, 1], rounding with a straight-through gradient."""
        b = self.bound(z)
        q = b + (torch.round(b) - b).detach()
        return q / (self._levels // 2).to(z.dtype)

    def codes_to_indices(self, codes):
        half = (self._levels // 2).to(codes.dtype)
        digits = torch.round(codes * half + half).to(torch.int64)
        return (digits * self._basis.to(torch.int64)).sum(-1)

    def indices_to_codes(self, idx):
        """idx (...) -> codes (..., d); digit i = (idx // basis_i) % L_i, code = (d - L//2) / (L//2)."""
        digits = (idx.to(torch.int64)[..., None] // self._basis.to(torch.int64)) % self._levels.to(torch.int64)
        half = (self._levels // 2).to(torch.float32)
        return (digits.to(torch.float32) - half) / half

    def forward(self, z):
        """z (B, d, T, H, W) -> (quantized (B, d, T, H, W), indices (B, T, H, W))."""
        zl = z.movedim(1, -1)
        q = self.quantize(zl)
        return q.movedim(-1, 1), self.codes_to_indices(q.detach())


def _check(cfg: dict):
    for part, key in (("encoder", "down"), ("decoder", "up")):
        c = cfg[part]
        n = len(c["channels"])
        if len(c["res_units"]) != n or len(c[key]) != n - 1:
            raise ValueError(f"tokenizer config: {part} needs {n} res_units and {n - 1} {key} factors")
        for s in range(1, n):
            if c["channels"][s] != c["channels"][s - 1] and c["res_units"][s] < 1:
                raise ValueError(f"tokenizer config: {part} stage {s} changes channels but has no residual unit")
        for ch in c["channels"]:
            if ch % cfg["norm_groups"]:
                raise ValueError(f"tokenizer config: {ch} channels not divisible by {cfg['norm_groups']} groups")
    if cfg["embed_dim"] != len(cfg["fsq_levels"]):
        raise ValueError("tokenizer config: embed_dim must equal len(fsq_levels) (no FSQ projections)")


def build_encoder(cfg: dict) -> nn.ModuleList:
    k, g, eps = cfg["kernel"], cfg["norm_groups"], cfg["norm_eps"]
    e = cfg["encoder"]
    ch = e["channels"]
    layers = [CausalConv3d(cfg["in_channels"], ch[0], k)]
    layers += [residual_unit(ch[0], ch[0], k, g, eps) for _ in range(e["res_units"][0])]
    for s in range(1, len(ch)):
        layers.append(CausalConv3d(ch[s - 1], ch[s - 1], k, stride=e["down"][s - 1]))
        for u in range(e["res_units"][s]):
            layers.append(residual_unit(ch[s - 1] if u == 0 else ch[s], ch[s], k, g, eps))
    layers += [GroupNorm3D(g, ch[-1], eps=eps), Swish(ch[-1]), nn.Conv3d(ch[-1], cfg["embed_dim"], 1)]
    return nn.ModuleList(layers)


def build_decoder(cfg: dict) -> nn.ModuleList:
    k, g, eps = cfg["kernel"], cfg["norm_groups"], cfg["norm_eps"]
    d = cfg["decoder"]
    ch = d["channels"]
    layers = [CausalConv3d(cfg["embed_dim"], ch[0], k)]
    layers += [residual_unit(ch[0], ch[0], k, g, eps) for _ in range(d["res_units"][0])]
    for s in range(1, len(ch)):
        f = d["up"][s - 1]
        layers.append(CausalConv3d(ch[s - 1], ch[s - 1] * f[0] * f[1] * f[2], k))
        layers.append(Depth2Space3D(f))
        for u in range(d["res_units"][s]):
            layers.append(residual_unit(ch[s - 1] if u == 0 else ch[s], ch[s], k, g, eps))
    layers += [GroupNorm3D(g, ch[-1], eps=eps), Swish(ch[-1]), CausalConv3d(ch[-1], cfg["in_channels"], k)]
    return nn.ModuleList(layers)


class VideoTokenizer(nn.Module):
    def __init__(self, config: dict):
        super().__init__()
        _check(config)
        self.config = copy.deepcopy(config)
        self.encoder_layers = build_encoder(config)
        self.decoder_layers = build_decoder(config)
        self.quantizers = FSQ(config["fsq_levels"])

    @torch.no_grad()
    def init_for_training(self):
        """Initialisation that starts learning quickly (the layout is unchanged).

        PyTorch's default conv init shrinks the variance about 3x per layer, so the
        skip path that carries colour fades behind the GroupNorm-ed residual branches;
        here convs are variance-preserving (LeCun normal, zero bias), each residual
        branch ends in a zero conv (the unit starts as its shortcut), and every conv
        feeding a DepthToSpace repeats one filter bank for all sub-positions (ICNR),
        so it starts as nearest-neighbour upsampling.
        """
        for mod in self.modules():
            if isinstance(mod, nn.Conv3d):
                nn.init.normal_(mod.weight, 0.0, mod.weight[0].numel() ** -0.5)
                nn.init.zeros_(mod.bias)
        # A separate pass: modules() yields a Residual before its convs, so zeroing
        # inside the loop above was undone by the normal init that followed.
        for mod in self.modules():
            if isinstance(mod, Residual):
                nn.init.zeros_(mod.fn[5].conv.weight)
        layers = list(self.decoder_layers)
        for i, layer in enumerate(layers):
            if isinstance(layer, Depth2Space3D):
                conv = layers[i - 1].conv
                r = math.prod(layer.factors)
                co = conv.out_channels // r
                conv.weight.copy_(conv.weight[:co].repeat(r, 1, 1, 1, 1))
                conv.bias.copy_(conv.bias[:co].repeat(r))

    def encode(self, video):
        """video (B, 3, F, h, w) in [0, 1] -> pre-quantization latents (B, d, T, H, W)."""
        x = video
        for layer in self.encoder_layers:
            x = layer(x)
        return x

    def decode(self, codes):
        """codes (B, d, T, H, W) -> video (B, 3, F, h, w)."""
        x = codes
        for layer in self.decoder_layers:
            x = layer(x)
        return x

    def forward(self, video):
        q, idx = self.quantizers(self.encode(video))
        return self.decode(q), idx

    @torch.no_grad()
    def tokenize(self, video):
        """video (B, 3, F, h, w) -> indices (B, T, H, W) int64."""
        return self.quantizers(self.encode(video))[1]

    @torch.no_grad()
    def decode_indices(self, idx):
        """indices (B, T, H, W) -> video (B, 3, F, h, w), unclamped."""
        return self.decode(self.quantizers.indices_to_codes(idx).movedim(-1, 1))


def latent_shape(cfg: dict, frames: int, size: int) -> tuple[int, int, int]:
    t_down = math.prod(f[0] for f in cfg["encoder"]["down"])
    s_down = math.prod(f[1] for f in cfg["encoder"]["down"])
    return 1 + (frames - 1) // t_down, size // s_down, size // s_down
