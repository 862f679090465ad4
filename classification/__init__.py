"""ImageNet-style classification training and evaluation for every backbone registered by :mod:`models`.

``main.py`` is the entry point (torchrun, SLURM through ``submit.py``, mpirun/srun, or a single process); the rest are
helpers it calls once: ``config`` (recipe files + flags), ``distributed`` (launcher detection), ``data``,
``modeling`` (model, teacher, fine-tuning), ``losses`` (distillation), ``engine`` (train/eval loops) and
``checkpoint`` (atomic saves, resume, RNG state).
"""
