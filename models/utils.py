"""Helpers under the names the original repositories use.

``replace_batchnorm(model)`` is RepNeXt's (and RepViT's / LeViT's) ``utils.replace_batchnorm``: the model is
converted in place to its inference form, here by ``timm.utils.reparameterize_model`` (every conv-BN pair and
re-parameterised branch of the five families folded; a ``DeployConv2d`` per folded conv).

    from timm.models import create_model
    import models.utils as utils      # RepNeXt: import utils

    model = create_model('repnext_m1')
    utils.replace_batchnorm(model)
"""
import torch.nn as nn
from timm.utils import reparameterize_model

__all__ = ['replace_batchnorm']


def replace_batchnorm(model: nn.Module) -> nn.Module:
    """Fold ``model`` in place for inference (it is put in eval mode); returns it as well."""
    return reparameterize_model(model.eval(), inplace=True)
