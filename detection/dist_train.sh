#!/usr/bin/env bash
# mmdet / mmseg's dist_train.sh, as the original repositories ship it: CONFIG GPUS [train.py options].
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR, PORT as in OpenMMLab's script; PYTHON picks the interpreter.
set -e
if [ $# -lt 2 ]; then echo "usage: $0 CONFIG GPUS [train.py options]" >&2; exit 1; fi
CONFIG=$1
GPUS=$2
"${PYTHON:-python}" -m torch.distributed.run --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${PORT:-29500}" --nproc_per_node="$GPUS" \
    "$(dirname "$0")/train.py" "$CONFIG" --launcher pytorch "${@:3}"
