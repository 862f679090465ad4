"""timm's feature interface (``forward_intermediates``, ``prune_intermediate_layers``), written once for the families
built as a stem followed by one stage per feature level (RapidNet, RepNeXt, MPViT, FasterNet).

A family mixes in :class:`StageFeatures` and states its differences as hooks: which module lists hold the stages
(``feature_stage_attrs``), the stem (``_forward_stem``), the output formats it offers, and what of the head goes when
the last stages are pruned (``_prune_head``). TorchScript reaches submodules only by literal name, so a family whose
``forward_intermediates`` scripts (RapidNet, RepNeXt: e.g. a scripted ``features_only`` getter) keeps its stages in
a :class:`FeatureStages` and names it in ``_num_stages`` / ``_forward_stages``.
"""
from typing import List, Optional, Tuple, Union

import torch
import torch.nn as nn
from timm.models._features import feature_take_indices
from timm.models._manipulate import checkpoint

__all__ = ['FeatureStages', 'StageFeatures']


class FeatureStages(nn.Sequential):
    """The stages behind the stem, one per feature level: a plain ``nn.Sequential`` (same keys and forward, flattened
    by timm's feature wrappers) that also runs the stage loop of ``forward_intermediates``, TorchScript included."""

    def forward_intermediates(
            self,
            x: torch.Tensor,
            take_indices: List[int],
            last_index: int,
            grad_checkpointing: bool = False,
    ) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        """Run the stages up to ``last_index``; return the last output and those of the stages in ``take_indices``
        (in stage order). Iterates its receiver only, so :class:`StageFeatures` also calls it unbound on a plain
        ``nn.Sequential`` or a list of stages."""
        intermediates: List[torch.Tensor] = []
        for idx, stage in enumerate(self):
            if idx <= last_index:  # not a slice or break: TorchScript allows neither on a loop over modules
                if grad_checkpointing and not torch.jit.is_scripting():
                    x = checkpoint(stage, x)
                else:
                    x = stage(x)
                if idx in take_indices:
                    intermediates.append(x)
        return x, intermediates


class StageFeatures:
    """Mixin for an ``nn.Module`` with ``stem``, stages, ``feature_info`` (one entry per stage), ``num_features``,
    ``head_hidden_size`` and ``reset_classifier``."""
    # TorchScript sees class attributes only as declared constants
    __constants__ = ('feature_output_fmts',)
    # module lists holding the stages, level i being the i-th module of each, run in this order; pruned together
    feature_stage_attrs: Tuple[str, ...] = ('stages',)
    # formats forward_intermediates accepts; 'NHWC' is a permuted view of the NCHW map
    feature_output_fmts: Tuple[str, ...] = ('NCHW',)

    def forward_intermediates(
            self,
            x: torch.Tensor,
            indices: Optional[Union[int, List[int]]] = None,
            norm: bool = False,
            stop_early: bool = False,
            output_fmt: str = 'NCHW',
            intermediates_only: bool = False,
    ) -> Union[List[torch.Tensor], Tuple[torch.Tensor, List[torch.Tensor]]]:
        """Forward features that returns the outputs of the stages in ``indices`` (one stage per feature level).

        Args:
            x: input image tensor.
            indices: take last n stages if int, all if None, select matching indices if sequence.
            norm: unused, there is no final norm layer.
            stop_early: stop iterating over stages when the last wanted intermediate is reached.
            output_fmt: one of ``feature_output_fmts``.
            intermediates_only: only return the intermediate features.
        """
        assert output_fmt in self.feature_output_fmts, \
            'Output shape must be ' + ' or '.join(self.feature_output_fmts) + '.'
        num_stages = self._num_stages()
        take_indices, max_index = feature_take_indices(num_stages, indices)
        last_index = max_index if stop_early else num_stages - 1

        x = self._forward_stem(x)
        x, intermediates = self._forward_stages(x, take_indices, last_index)
        if output_fmt == 'NHWC':
            intermediates = [y.permute(0, 2, 3, 1) for y in intermediates]

        if intermediates_only:
            return intermediates
        return x, intermediates

    def prune_intermediate_layers(
            self,
            indices: Union[int, List[int]] = 1,
            prune_norm: bool = False,
            prune_head: bool = True,
    ) -> List[int]:
        """Drop the stages after the last wanted index and, with ``prune_head`` or once the last stage goes, the
        classifier (``_prune_head``). ``prune_norm`` is unused: there is no final norm layer."""
        num_stages = self._num_stages()
        take_indices, max_index = feature_take_indices(num_stages, indices)
        prune_end = max_index < num_stages - 1
        self._truncate_stages(max_index + 1)
        if prune_end:
            # features now end at the last kept stage; the head was sized for the final one, so it goes too
            self.num_features = self.head_hidden_size = self.feature_info[max_index]['num_chs']
        if prune_head or prune_end:
            self._prune_head()
        return take_indices

    # ---------------------------------------------------------------------------------------------- hooks

    def _num_stages(self) -> int:
        return len(getattr(self, self.feature_stage_attrs[0]))

    def _forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.stem(x)

    def _forward_stages(self, x: torch.Tensor, take_indices: List[int], last_index: int):
        """Eager only (attributes looked up by name); scripted families override it with their FeatureStages."""
        lists = [getattr(self, name) for name in self.feature_stage_attrs]
        stages = lists[0] if len(lists) == 1 else [nn.Sequential(*level) for level in zip(*lists)]
        return FeatureStages.forward_intermediates(stages, x, take_indices, last_index)

    def _truncate_stages(self, num_kept: int) -> None:
        for name in self.feature_stage_attrs:
            setattr(self, name, getattr(self, name)[:num_kept])

    def _prune_head(self) -> None:
        self.reset_classifier(0, '')
