#!/usr/bin/env bash
# mmdet / mmseg's dist_test.sh, as the original repositories ship it: CONFIG CHECKPOINT GPUS [test.py options]
# (mmdet 2.x options such as --eval bbox segm are accepted). NNODES, NODE_RANK, MASTER_ADDR, PORT, PYTHON as in
# dist_train.sh.
set -e
if [ $# -lt 3 ]; then echo "usage: $0 CONFIG CHECKPOINT GPUS [test.py options]" >&2; exit 1; fi
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
"${PYTHON:-python}" -m torch.distributed.run --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${PORT:-29500}" --nproc_per_node="$GPUS" \
    "$(dirname "$0")/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "${@:4}"
