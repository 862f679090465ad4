"""Efficient vision backbones as timm models. Importing this package registers every family with timm.

MMDetection / MMSegmentation registration lives in :mod:`models.mm` (imported by the dense-task configs), so this
package itself never needs OpenMMLab.
"""
from . import fasternet, mpvit, rapidnet, repnext, rexnet  # noqa: F401  (registration side effects)
from ._checkpoint import CheckpointError, load_checkpoint, load_file, unwrap_state_dict  # noqa: F401
