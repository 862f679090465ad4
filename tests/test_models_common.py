"""Behaviour every family shares through models/_checkpoint.py, checked on the smallest variant of each."""
import pytest
import timm
import torch

import models  # noqa: F401  (registers the families)

SMALLEST = ['fasternet_t0', 'mpvit_tiny', 'rapidnet_ti', 'repnext_m0', 'rexnet_100', 'rexnet_lite_100']


@pytest.mark.parametrize('name', SMALLEST)
def test_pretrained_file_with_other_in_chans_adapts_the_first_conv(name, tmp_path):
    """A 3-channel file loads into an ``in_chans=1`` model: the layout check accepts the first conv, timm sums it
    over the input channels; any other shape mismatch still fails."""
    source = timm.create_model(name)
    path = tmp_path / 'weights.pth'
    torch.save(source.state_dict(), path)
    model = timm.create_model(name, pretrained=True, in_chans=1, pretrained_cfg_overlay=dict(file=str(path)))
    key = model.pretrained_cfg['first_conv'] + '.weight'
    assert torch.allclose(model.state_dict()[key], source.state_dict()[key].sum(1, keepdim=True))
    other = next(k for k, v in source.state_dict().items() if k != key and v.ndim == 4 and v.shape[1] > 1)
    broken = dict(source.state_dict())
    broken[other] = broken[other][:, :1].clone()
    torch.save(broken, path)
    with pytest.raises(models.CheckpointError, match='shape mismatch'):
        timm.create_model(name, pretrained=True, in_chans=1, pretrained_cfg_overlay=dict(file=str(path)))
