# mmdet's runtime (hooks, logging, visualiser) plus the import that registers TimmFeatureBackbone.
_base_ = 'mmdet::_base_/default_runtime.py'
custom_imports = dict(imports=['models.mm'], allow_failed_imports=False)
