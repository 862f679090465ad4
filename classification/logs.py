"""Per-epoch metrics as JSON lines (``log.jsonl``) and TensorBoard scalars (``tb/``), written by rank 0.

``log.jsonl`` is rewritten from the history stored in the checkpoint a run resumes from, so after a crash it
never holds an epoch the checkpoint does not know (an epoch killed half-way is logged once, when it is redone).
"""
import json
import os
from typing import Any, Dict, List


class RunLog:
    def __init__(self, output_dir: str, enabled: bool, history: List[Dict[str, Any]], tensorboard: bool = True):
        self.enabled = enabled
        self.path = os.path.join(output_dir, 'log.jsonl')
        self.tb_dir = os.path.join(output_dir, 'tb')
        self.writer = None
        if not enabled:
            return
        with open(self.path, 'w') as f:
            for record in history:
                f.write(json.dumps(record) + '\n')
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter
            # purge_step drops events of epochs after the checkpoint (they are about to be redone)
            self.writer = SummaryWriter(self.tb_dir, purge_step=len(history) or None)

    def append(self, record: Dict[str, Any]) -> None:
        if not self.enabled:
            return
        with open(self.path, 'a') as f:
            f.write(json.dumps(record) + '\n')
        if self.writer is not None:
            for key, value in record.items():
                if key != 'epoch' and isinstance(value, (int, float)):
                    self.writer.add_scalar(key.replace('_', '/', 1), value, record['epoch'])
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
