#!/usr/bin/env bash
# The checks to run when an accelerator is lent, in one call that fits a few minutes of device
# time (docs/results.md, section 4.2 records what they printed, with the card's name):
#   1. the supernet's training throughput (a random child per step, a fixed child, a plain CNN)
#      at batch 64 / 256 / 1024, in float32 and under float16 / bfloat16 autocast: the levers
#      "larger batches" and "mixed precision" against the 10x goal;
#   2. a short NAO-WS search and a DARTS search on the recurrent cell, on CUDA end to end.
# Every step runs on its own (one failing does not stop the rest); JSON and logs go to OUTDIR.
#
#   bash benchmarks/device_check.sh OUTDIR      # from the repository root; OUTDIR: $OUT there
set -u
out=${1:-${OUT:-/tmp/device_check}}
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
log="$out/log.txt"
py=${PYTHON:-python}

{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  "$py" -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"
} > "$out/device.txt" 2>>"$log"

for amp in off fp16 bf16; do
  for batch in 64 256 1024; do
    timeout 120 "$py" benchmarks/supernet_throughput.py --device cuda --steps 20 --warmup 3 \
      --batch "$batch" --amp "$amp" --only supernet,supernet_fixed,plain_cnn_channels_last \
      --json > "$out/throughput_${amp}_${batch}.json" 2>>"$log" \
      || echo "throughput $amp $batch failed: $?" >> "$log"
  done
done

timeout 300 "$py" -m pipelines.cli ws --data standin:1x28x28 --train-size 2000 --epochs 2 \
  --device cuda --quiet --json > "$out/ws_nao.json" 2>>"$log" || echo "ws nao failed: $?" >> "$log"
timeout 300 "$py" -m pipelines.cli ws --space enas-rnn:nodes=4 --controller darts \
  --data standin-text --epochs 2 --device cuda --quiet --json > "$out/ws_darts_rnn.json" \
  2>>"$log" || echo "ws darts rnn failed: $?" >> "$log"
echo "done" >> "$log"
