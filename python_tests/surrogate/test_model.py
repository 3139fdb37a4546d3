"""PH-Net architecture: shapes, errors, and the three switchable improvements."""

import pytest
import torch
import torch.nn.functional as F

from phnet_cuda.surrogate.model import PHNet, PHNetConfig, count_parameters


def _model(**kw):
    torch.manual_seed(0)
    cfg = dict(widths=(4, 8, 16), head=4)
    cfg.update(kw)
    return PHNet(**cfg).eval()


def test_reference_architecture_layout():
    m = PHNet()  # the reference widths 36 -> 64 -> 128 -> 256 -> ... -> 32 -> 18
    convs = [mod for mod in m.modules() if isinstance(mod, torch.nn.Conv3d)]
    io = [(c.in_channels, c.out_channels) for c in convs]
    assert io == [(36, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256),
                  (256 + 128, 128), (128, 128), (128 + 64, 64), (64, 64), (64, 32), (32, 32), (32, 18)]
    assert m.config.pooling_factor == 4
    assert count_parameters(m) > 5_000_000


def test_output_shape_and_errors():
    m = _model()
    x = torch.rand(2, 36, 8, 8, 8)
    assert m(x).shape == (2, 18, 8, 8, 8)
    assert m.predict_displacements(x).shape == (2, 6, 3, 8, 8, 8)
    with pytest.raises(ValueError, match="divisible by 4"):
        m(torch.rand(1, 36, 6, 6, 6))
    with pytest.raises(ValueError, match=r"\[B, 36, n, n, n\]"):
        m(torch.rand(1, 35, 8, 8, 8))
    with pytest.raises(ValueError, match="norm"):
        PHNetConfig(norm="layer")
    with pytest.raises(ValueError, match="unknown PH-Net config keys"):
        PHNetConfig.from_dict({"widths": [4], "depth": 3})
    assert PHNetConfig.from_dict(PHNetConfig(widths=(2, 4)).to_dict()) == PHNetConfig(widths=(2, 4))


def test_periodic_model_is_translation_equivariant():
    """Circular padding + periodic upsampling: shifting the cell by a multiple of the pooling
    factor shifts the prediction exactly; zero padding (plain) breaks it at the faces."""
    x = torch.rand(1, 36, 8, 8, 8, dtype=torch.float64)
    for periodic in (True, False):
        m = _model(periodic=periodic).double()
        y = m(x)
        y_shift = m(torch.roll(x, shifts=(4, -4), dims=(2, 4)))
        err = (y_shift - torch.roll(y, shifts=(4, -4), dims=(2, 4))).abs().max() / y.abs().max()
        if periodic:
            assert err < 1e-12
        else:
            assert err > 1e-3


def test_periodic_upsampling_matches_tiled_interpolation():
    m = _model()
    x = torch.rand(2, 3, 5, 5, 5, dtype=torch.float64)
    tiled = x.repeat(1, 1, 3, 3, 3)  # three periods per axis; the middle one has true neighbours
    ref = F.interpolate(tiled, scale_factor=2, mode="trilinear", align_corners=False)[:, :, 10:20, 10:20, 10:20]
    assert torch.allclose(m._upsample(x), ref, rtol=0, atol=1e-14)


def test_scale_invariance_and_zero_mean():
    x = torch.rand(2, 36, 8, 8, 8, dtype=torch.float64) + 0.1
    m = _model().double()
    y = m(x)
    assert torch.allclose(m(1234.5 * x), y, rtol=1e-10, atol=1e-12)
    assert y.mean(dim=(2, 3, 4)).abs().max() < 1e-13
    plain = _model(scale_invariant=False, zero_mean=False).double()
    assert (plain(1234.5 * x) - plain(x)).abs().max() > 1e-3
    assert plain(x).mean(dim=(2, 3, 4)).abs().max() > 1e-6


def test_group_norm_and_no_norm_variants_run():
    for norm in ("group", "none"):
        m = _model(norm=norm)
        assert m(torch.rand(1, 36, 4, 4, 4)).shape == (1, 18, 4, 4, 4)


def test_widen_model_preserves_the_function_and_trains_the_new_channels():
    """Net2Net-style widening: the same outputs (train and eval mode, with non-trivial batch-norm
    statistics), and every new weight gets a gradient, including the zero ones from new channels
    into old ones (otherwise the new channels could never reach the output)."""
    from phnet_cuda.surrogate.model import widen_model

    torch.manual_seed(1)
    narrow = PHNet(widths=(4, 8, 16), head=4).double().train()
    for m in narrow.modules():
        if isinstance(m, torch.nn.BatchNorm3d):
            m.momentum = None  # running statistics = the plain average of the batches below
    x = torch.rand(2, 36, 8, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        for _ in range(3):  # move the running statistics away from (0, 1)
            narrow(x + 0.1 * torch.rand_like(x))
        narrow.out.weight.mul_(10)
    wide = widen_model(narrow, PHNetConfig(widths=(6, 10, 20), head=7))
    assert wide.training and wide.config.widths == (6, 10, 20)
    for mode in (False, True):
        narrow.train(mode), wide.train(mode)
        with torch.no_grad():
            a, b = narrow(x), wide(x)
        assert float(a.std()) > 1e-3, mode  # a non-trivial field
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-12), mode
    wide(x).square().sum().backward()
    first = wide.down[0][0].weight  # [6, 36, 3, 3, 3]: old rows copied, new rows fresh
    assert torch.equal(first[:4].detach(), narrow.down[0][0].weight.detach())
    second = wide.down[0][3].weight  # [6, 6, ...]: new input 4, 5 -> old outputs 0..3 start at zero
    assert torch.count_nonzero(second[:4, 4:]) == 0 and second.grad[:4, 4:].abs().amax() > 0
    assert wide.out.weight.grad[:, 4:].abs().amax() > 0
    # the up block reads cat(upsampled level 1 [10 ch], skip of level 0 [6 ch]): the old skip
    # channels moved from 8..11 to 10..13
    up = wide.up[1][0].weight
    assert torch.equal(up[:4, 10:14].detach(), narrow.up[1][0].weight[:, 8:12].detach())


def test_widen_model_errors():
    from phnet_cuda.surrogate.model import widen_model

    narrow = PHNet(widths=(4, 8), head=4)
    with pytest.raises(ValueError, match="no narrower"):
        widen_model(narrow, PHNetConfig(widths=(2, 8), head=4))
    with pytest.raises(ValueError, match="no narrower"):
        widen_model(narrow, PHNetConfig(widths=(4, 8, 16), head=4))
    with pytest.raises(ValueError, match="only change widths, head and cg_steps"):
        widen_model(narrow, PHNetConfig(widths=(4, 8), head=4, periodic=False))
    with pytest.raises(ValueError, match="group"):
        widen_model(PHNet(widths=(4, 8), head=4, norm="group"), PHNetConfig(widths=(8, 8), head=4, norm="group"))
