#!/usr/bin/env bash
# timm's distributed_train.sh (ReXNet's README trains with it): NUM_PROC [DATA_DIR] [main.py options].
# timm's train.py flags that differ here are translated by main.py (--model rexnetv1 --rex-width-mult 1.0 is
# rexnet_100; the positional data folder is --data-path). PYTHON picks the interpreter.
set -e
if [ $# -lt 1 ]; then echo "usage: $0 NUM_PROC [DATA_DIR] [main.py options]" >&2; exit 1; fi
NUM_PROC=$1
shift
"${PYTHON:-python}" -m torch.distributed.run --nproc_per_node="$NUM_PROC" --master_port="${PORT:-29500}" \
    "$(dirname "$0")/classification/main.py" "$@"
