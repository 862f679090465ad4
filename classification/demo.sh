#!/usr/bin/env bash
# Classification demo: synthetic ImageNet-style data -> 2-process CPU training with torchrun (gloo) ->
# distributed --eval of the saved checkpoint. About 2-4 minutes on 2 idle cores.
#   bash classification/demo.sh                 (env: PY, DATA, OUT, NPROC, EPOCHS override the defaults)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PY:-.venv/bin/python}
DATA=${DATA:-data/synthetic}
OUT=${OUT:-output/classification/demo}
NPROC=${NPROC:-2}
CONFIG=configs/classification/demo.yaml
EXTRA=()
[[ -n "${EPOCHS:-}" ]] && EXTRA+=(--epochs "$EPOCHS")
start=$SECONDS

echo "[demo] 1/3 synthetic data in $DATA"
"$PY" tools/make_synthetic.py --out "$DATA" --tasks cls

echo "[demo] 2/3 training: torchrun --nproc_per_node=$NPROC classification/main.py --config $CONFIG"
rm -rf "$OUT"
OMP_NUM_THREADS=1 "$PY" -m torch.distributed.run --standalone --nproc_per_node="$NPROC" classification/main.py \
  --config "$CONFIG" --data-path "$DATA/imagenet" --output-dir "$OUT" --no-progress "${EXTRA[@]}"

echo "[demo] 3/3 evaluation of $OUT/checkpoint-last.pth with --eval on $NPROC processes"
OMP_NUM_THREADS=1 "$PY" -m torch.distributed.run --standalone --nproc_per_node="$NPROC" classification/main.py \
  --config "$CONFIG" --data-path "$DATA/imagenet" --output-dir "$OUT" --no-progress \
  --eval --resume "$OUT/checkpoint-last.pth"

"$PY" - "$OUT" <<'PYEOF'
import json, os, sys
out = sys.argv[1]
top1 = json.load(open(os.path.join(out, 'eval.json')))['results']['model']['acc1']
print(f'[demo] top-1 {top1:.1f}% on the synthetic val set (8 classes, chance 12.5%)')
print(f'[demo] logs: {out}/log.jsonl (per-epoch JSON lines), {out}/tb (tensorboard --logdir {out}/tb), '
      f'{out}/eval.json, checkpoints {out}/checkpoint-{{last,best}}.pth')
sys.exit(0 if top1 > 60 else 1)
PYEOF
echo "[demo] done in $((SECONDS - start)) s"
