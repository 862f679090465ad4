# mmseg's runtime (logging, visualiser, SegTTAModel) plus the import that registers TimmFeatureBackbone.
_base_ = 'mmseg::_base_/default_runtime.py'
custom_imports = dict(imports=['models.mm'], allow_failed_imports=False)
