"""PyTorch model checks (skipped where torch is absent, e.g. CI)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tools.train import gpt_torch as G  # noqa: E402
from tools.train import magvit2_torch as M  # noqa: E402
from tools.reference import par_sequence as P  # noqa: E402


def test_tokenizer_nbp_names_and_shapes():
    sd = M.VideoTokenizer(M.NBP_UCF_CONFIG).state_dict()
    assert len(sd) == 434                                   # NBP's UCF tokenizer has 434 tensors
    assert sd["encoder_layers.26.weight"].shape == (6, 512, 1, 1, 1)   # plain 1x1x1 conv, no `.conv`
    assert sd["encoder_layers.6.residual_fn.0.conv.weight"].shape == (256, 128, 1, 1, 1)
    assert sd["decoder_layers.9.conv.weight"].shape == (4096, 512, 3, 3, 3)
    assert sd["decoder_layers.11.fn.1.beta"].shape == (1, 512, 1, 1, 1)
    assert sd["decoder_layers.29.conv.weight"].shape == (3, 128, 3, 3, 3)
    assert not any(k.startswith("quantizers.") for k in sd)


def test_small_tokenizer_shapes_and_causality():
    torch.manual_seed(0)
    m = M.VideoTokenizer(M.SMALL_CONFIG).eval()
    x = torch.rand(1, 3, 17, 64, 64)
    with torch.no_grad():
        z = m.encode(x)
        assert z.shape == (1, 4, 5, 16, 16)
        y = m.decode(m.quantizers(z)[0])
        assert y.shape == (1, 3, 17, 64, 64)
        # causal: frames 0..4 of the input decide latent frames 0..1 alone
        x2 = x.clone()
        x2[:, :, 5:] = torch.rand_like(x2[:, :, 5:])
        assert torch.allclose(m.encode(x2)[:, :, :2], z[:, :, :2], atol=1e-5)
        assert not torch.allclose(m.encode(x2)[:, :, 2:], z[:, :, 2:], atol=1e-3)


def test_fsq_indices_roundtrip_and_digit_order():
    q = M.FSQ([8, 5, 5, 5])
    idx = torch.arange(1000)
    codes = q.indices_to_codes(idx)
    assert torch.equal(q.codes_to_indices(codes), idx)
    assert torch.allclose(codes[1], torch.tensor([-0.75, -1.0, -1.0, -1.0]))   # digit 0 least significant
    assert torch.allclose(codes[8], torch.tensor([-1.0, -0.5, -1.0, -1.0]))
    z = torch.randn(2, 4, 5, 8, 8) * 3
    qz, ind = q(z)
    assert torch.allclose(q.indices_to_codes(ind).movedim(-1, 1), qz)


def _tiny(n):
    torch.manual_seed(1)
    m = G.GPT(G.default_config(dim=64, n_layer=2, n_head=1, parallel=n)).eval()
    for p in m.parameters():
        p.data.normal_(0, 0.3)
    return m


@pytest.mark.parametrize("n", [1, 4, 16])
def test_gpt_outputs_see_only_what_spec_allows(n):
    m = _tiny(n)
    seq = torch.randint(0, 1000, (1, 320))
    lab = torch.tensor([7])
    base = m(seq, lab)
    kind, ref = P.input_layout((5, 8, 8), n)
    mask = P.attention_mask(320, n)
    for k in (0, n - 1, n, 3 * n + 1, 200):
        s2 = seq.clone()
        s2[0, k] = (s2[0, k] + 1) % 1000
        out = m(s2, lab)
        changed = (out - base).abs().amax(-1)[0] > 1e-5
        # x_k is the input at position k+1 (k < n) or k+n; everything that can see that position changes
        pos = k + 1 if k < n else k + n
        expect = np.zeros(320, bool)
        if pos < 320:
            expect = mask[:, pos].copy()
        assert np.array_equal(changed.numpy(), expect), k


def test_gpt_n1_equals_plain_causal_llama():
    m = _tiny(1)
    seq = torch.randint(0, 1000, (2, 320))
    lab = torch.tensor([3, 101])
    out = m(seq, lab)
    # explicit recomputation: class embedding then raster tokens x_0..x_318, causal
    h = torch.cat([m.cls_embedding.embedding_table.weight[lab][:, None], m.tok_embeddings(seq[:, :-1])], 1)
    for layer in m.layers:
        h = layer(h, m.rope_cos, m.rope_sin, torch.tril(torch.ones(320, 320, dtype=torch.bool)))
    ref = m.output(m.norm(h))
    assert torch.allclose(out, ref, atol=1e-5)
    assert not m.rope_cos[0].any()


def test_training_init_zeroes_residual_branches_and_keeps_icnr():
    # Regression: modules() yields a Residual before its convs, so the zero init of each
    # branch's last conv was overwritten by the normal init of the same loop.
    torch.manual_seed(0)
    m = M.VideoTokenizer(M.SMALL_CONFIG)
    m.init_for_training()
    res = [mod for mod in m.modules() if isinstance(mod, M.Residual)]
    assert len(res) == 10
    for mod in res:
        assert float(mod.fn[5].conv.weight.abs().max()) == 0.0
        assert float(mod.fn[2].conv.weight.abs().max()) > 0.0
    conv = m.decoder_layers[4].conv                      # feeds the first Depth2Space (2 sub-positions, in time)
    co = conv.out_channels // 2
    assert torch.equal(conv.weight[:co], conv.weight[co:2 * co])
    # each residual unit starts as its shortcut, so an identity-shortcut unit is the identity
    x = torch.rand(1, 64, 3, 4, 4)
    assert torch.equal(m.decoder_layers[1](x), x)
