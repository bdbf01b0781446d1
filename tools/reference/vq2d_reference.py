"""numpy reference of LlamaGen's VQ image tokenizer (`VQ-16`, `VQ-8`), written
from the computation of LlamaGen's tokenizer/tokenizer_image/vq_model.py:

- decode: codebook rows (l2-normalised when `codebook_l2_norm`), 1x1
  post_quant_conv, decoder.conv_in (3x3, zero padding 1), mid = [ResnetBlock,
  AttnBlock, ResnetBlock], then per level from the widest: num_res_blocks + 1
  ResnetBlocks (each followed by an AttnBlock on the widest level only), a
  nearest x2 upsample and a 3x3 conv on all but the last level, GroupNorm +
  swish, conv_out. Output in [-1, 1] (not clamped here).
- encode: conv_in, per level num_res_blocks ResnetBlocks (+ AttnBlock on the
  widest level), a stride-2 3x3 conv after padding right and bottom by one on
  all but the last level, mid, GroupNorm + swish, conv_out, 1x1 quant_conv,
  then the nearest codebook row of the l2-normalised latent (argmin of
  |z|^2 + |e|^2 - 2 z.e, as the official quantizer computes it).

ResnetBlock: GN, swish, conv3x3, GN, swish, conv3x3, plus the input (a 1x1
`nin_shortcut` of it when channels change). AttnBlock: GN, 1x1 q/k/v, softmax
(q k^T / sqrt(C)) v over all positions, 1x1 proj_out, plus the input.
GroupNorm: `norm_groups` groups, biased variance, eps `norm_eps`, affine.

Layout here: images and activations are H x W x C (channels last); weights
keep PyTorch's layout and names (docs/BUNDLE.md, kind "vq2d").
"""
import numpy as np

from tools.reference import magvit2_reference as m2

# vq_ds16_c2i.pt: VQ-16 with LlamaGen's ModelArgs defaults.
VQ16_CONFIG = {
    "codebook_size": 16384, "codebook_embed_dim": 8, "codebook_l2_norm": True, "z_channels": 256,
    "channels": 128, "encoder_ch_mult": [1, 1, 2, 2, 4], "decoder_ch_mult": [1, 1, 2, 2, 4],
    "num_res_blocks": 2, "in_channels": 3, "norm_groups": 32, "norm_eps": 1e-6, "image_size": 384,
}


def downsample_factor(cfg):
    return 2 ** (len(cfg["encoder_ch_mult"]) - 1)


def upsample_factor(cfg):
    return 2 ** (len(cfg["decoder_ch_mult"]) - 1)


# ---------------------------------------------------------------- layer shapes

def _res_shapes(p, cin, cout):
    s = {p + "norm1.weight": (cin,), p + "norm1.bias": (cin,),
         p + "conv1.weight": (cout, cin, 3, 3), p + "conv1.bias": (cout,),
         p + "norm2.weight": (cout,), p + "norm2.bias": (cout,),
         p + "conv2.weight": (cout, cout, 3, 3), p + "conv2.bias": (cout,)}
    if cin != cout:
        s[p + "nin_shortcut.weight"] = (cout, cin, 1, 1)
        s[p + "nin_shortcut.bias"] = (cout,)
    return s


def _attn_shapes(p, c):
    s = {p + "norm.weight": (c,), p + "norm.bias": (c,)}
    for n in ("q", "k", "v", "proj_out"):
        s[p + n + ".weight"] = (c, c, 1, 1)
        s[p + n + ".bias"] = (c,)
    return s


def _conv(p, cout, cin, k):
    return {p + ".weight": (cout, cin, k, k), p + ".bias": (cout,)}


def encoder_plan(cfg):
    """[(kind, prefix, cin, cout)] in the order encode runs them."""
    ch, mult, R = cfg["channels"], cfg["encoder_ch_mult"], cfg["num_res_blocks"]
    plan = [("conv3", "encoder.conv_in", cfg["in_channels"], ch)]
    block_in = ch
    for i, m in enumerate(mult):
        block_out = ch * m
        for j in range(R):
            plan.append(("res", f"encoder.conv_blocks.{i}.res.{j}.", block_in, block_out))
            block_in = block_out
            if i == len(mult) - 1:
                plan.append(("attn", f"encoder.conv_blocks.{i}.attn.{j}.", block_in, block_in))
        if i != len(mult) - 1:
            plan.append(("down", f"encoder.conv_blocks.{i}.downsample.conv", block_in, block_in))
    plan += [("res", "encoder.mid.0.", block_in, block_in), ("attn", "encoder.mid.1.", block_in, block_in),
             ("res", "encoder.mid.2.", block_in, block_in), ("normswish", "encoder.norm_out", block_in, block_in),
             ("conv3", "encoder.conv_out", block_in, cfg["z_channels"]),
             ("conv1", "quant_conv", cfg["z_channels"], cfg["codebook_embed_dim"])]
    return plan


def decoder_plan(cfg):
    ch, mult, R = cfg["channels"], cfg["decoder_ch_mult"], cfg["num_res_blocks"]
    block_in = ch * mult[-1]
    plan = [("conv1", "post_quant_conv", cfg["codebook_embed_dim"], cfg["z_channels"]),
            ("conv3", "decoder.conv_in", cfg["z_channels"], block_in),
            ("res", "decoder.mid.0.", block_in, block_in), ("attn", "decoder.mid.1.", block_in, block_in),
            ("res", "decoder.mid.2.", block_in, block_in)]
    levels = len(mult)
    for j, i_level in enumerate(reversed(range(levels))):
        block_out = ch * mult[i_level]
        for r in range(R + 1):
            plan.append(("res", f"decoder.conv_blocks.{j}.res.{r}.", block_in, block_out))
            block_in = block_out
            if i_level == levels - 1:
                plan.append(("attn", f"decoder.conv_blocks.{j}.attn.{r}.", block_in, block_in))
        if i_level != 0:
            plan.append(("up", f"decoder.conv_blocks.{j}.upsample.conv", block_in, block_in))
    plan += [("normswish", "decoder.norm_out", block_in, block_in),
             ("conv3", "decoder.conv_out", block_in, cfg["in_channels"])]
    return plan


def weight_shapes(cfg, encoder=True):
    """Official state-dict name -> shape (codebook_used, a training buffer, excluded)."""
    shapes = {"quantize.embedding.weight": (cfg["codebook_size"], cfg["codebook_embed_dim"])}
    for kind, p, cin, cout in decoder_plan(cfg) + (encoder_plan(cfg) if encoder else []):
        if kind == "res":
            shapes.update(_res_shapes(p, cin, cout))
        elif kind == "attn":
            shapes.update(_attn_shapes(p, cin))
        elif kind == "normswish":
            shapes.update({p + ".weight": (cin,), p + ".bias": (cin,)})
        else:
            shapes.update(_conv(p, cout, cin, 1 if kind == "conv1" else 3))
    return shapes


# ---------------------------------------------------------------- operations

def conv2d(x, w, b, stride=1, pad=None):
    """x: H x W x Cin; w: (Cout, Cin, k, k); zero padding (top, bottom, left,
    right), default k // 2 on every side; one matrix product per tap."""
    k = w.shape[2]
    pt, pb, pl, pr = pad if pad is not None else (k // 2,) * 4
    xp = np.pad(x, ((pt, pb), (pl, pr), (0, 0)))
    ho = (xp.shape[0] - k) // stride + 1
    wo = (xp.shape[1] - k) // stride + 1
    out = np.zeros((ho, wo, w.shape[0]), dtype=x.dtype)
    for dy in range(k):
        for dx in range(k):
            tap = xp[dy:dy + stride * (ho - 1) + 1:stride, dx:dx + stride * (wo - 1) + 1:stride]
            out += tap @ w[:, :, dy, dx].T.astype(x.dtype)
    return out + b.astype(x.dtype)


def group_norm(x, gamma, beta, groups, eps):
    h, w, c = x.shape
    g = x.reshape(h * w, groups, c // groups)
    mean = g.mean(axis=(0, 2), keepdims=True)
    var = ((g - mean) ** 2).mean(axis=(0, 2), keepdims=True)
    y = ((g - mean) / np.sqrt(var + eps)).reshape(h, w, c)
    return y * gamma.astype(x.dtype) + beta.astype(x.dtype)


def swish(x):
    return x / (1 + np.exp(-x))


def resnet_block(x, W, p, cin, cout, cfg):
    G, eps = cfg["norm_groups"], cfg["norm_eps"]
    h = swish(group_norm(x, W[p + "norm1.weight"], W[p + "norm1.bias"], G, eps))
    h = conv2d(h, W[p + "conv1.weight"], W[p + "conv1.bias"])
    h = swish(group_norm(h, W[p + "norm2.weight"], W[p + "norm2.bias"], G, eps))
    h = conv2d(h, W[p + "conv2.weight"], W[p + "conv2.bias"])
    if cin != cout:
        x = conv2d(x, W[p + "nin_shortcut.weight"], W[p + "nin_shortcut.bias"])
    return x + h


def attn_block(x, W, p, cfg):
    hh, ww, c = x.shape
    h = group_norm(x, W[p + "norm.weight"], W[p + "norm.bias"], cfg["norm_groups"], cfg["norm_eps"])
    q, k, v = (conv2d(h, W[p + n + ".weight"], W[p + n + ".bias"]).reshape(hh * ww, c) for n in "qkv")
    s = (q @ k.T) * (int(c) ** -0.5)
    s = np.exp(s - s.max(axis=1, keepdims=True))
    s /= s.sum(axis=1, keepdims=True)
    o = (s @ v).reshape(hh, ww, c)
    return x + conv2d(o, W[p + "proj_out.weight"], W[p + "proj_out.bias"])


def run_plan(x, plan, W, cfg):
    for kind, p, cin, cout in plan:
        if kind == "res":
            x = resnet_block(x, W, p, cin, cout, cfg)
        elif kind == "attn":
            x = attn_block(x, W, p, cfg)
        elif kind == "normswish":
            x = swish(group_norm(x, W[p + ".weight"], W[p + ".bias"], cfg["norm_groups"], cfg["norm_eps"]))
        elif kind == "up":
            x = conv2d(np.repeat(np.repeat(x, 2, axis=0), 2, axis=1), W[p + ".weight"], W[p + ".bias"])
        elif kind == "down":
            x = conv2d(x, W[p + ".weight"], W[p + ".bias"], stride=2, pad=(0, 1, 0, 1))
        else:
            x = conv2d(x, W[p + ".weight"], W[p + ".bias"])
    return x


def l2_normalize(x):
    """F.normalize(x, p=2, dim=-1): x / max(|x|, 1e-12)."""
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def codebook(W, cfg, dtype=np.float64):
    e = W["quantize.embedding.weight"].astype(dtype)
    return l2_normalize(e) if cfg["codebook_l2_norm"] else e


def decode_indices(idx, W, cfg, dtype=np.float64):
    """idx: h x w code indices -> image (16h) x (16w) x 3, in [-1, 1] before clamping."""
    z = codebook(W, cfg, dtype)[np.asarray(idx)]
    return run_plan(z, decoder_plan(cfg), W, cfg)


def encode_latents(image, W, cfg, dtype=np.float64):
    """image: H x W x 3 in [-1, 1] -> pre-quantization latents (H/16) x (W/16) x e."""
    return run_plan(np.asarray(image, dtype=dtype), encoder_plan(cfg), W, cfg)


def quantize(z, W, cfg):
    """Latents h x w x e -> h x w nearest codebook indices (the official distance)."""
    e = codebook(W, cfg, z.dtype)
    zf = z.reshape(-1, z.shape[-1])
    if cfg["codebook_l2_norm"]:
        zf = l2_normalize(zf)
    d = (zf ** 2).sum(axis=1, keepdims=True) + (e ** 2).sum(axis=1) - 2 * zf @ e.T
    return d.argmin(axis=1).reshape(z.shape[:-1])


def encode_indices(image, W, cfg, dtype=np.float64):
    return quantize(encode_latents(image, W, cfg, dtype), W, cfg)


# ---------------------------------------------------------------- seeded weights

def seeded_weights(cfg, seed, encoder=True):
    """Random weights from a seed, bit for bit as Swift's SeededVQWeights:
    magvit2_reference.seeded_uniform per tensor, scaled per kind (conv kernels
    by sqrt(3 / fan_in), biases by 0.1, norm gains 1 + 0.1 u, codebook rows as
    drawn)."""
    W = {}
    for name, shape in weight_shapes(cfg, encoder).items():
        u = m2.seeded_uniform(name, seed, int(np.prod(shape))).reshape(shape)
        if len(shape) == 4:
            u = u * np.float32(np.sqrt(3.0 / np.prod(shape[1:])))
        elif name.endswith(".bias"):
            u = u * np.float32(0.1)
        elif name != "quantize.embedding.weight":
            u = np.float32(1) + np.float32(0.1) * u
        W[name] = u.astype(np.float32)
    return W
