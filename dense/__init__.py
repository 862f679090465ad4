"""What detection/ and segmentation/ share: the mmengine runner glue (:mod:`dense.runner`)."""
