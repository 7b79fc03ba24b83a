#!/usr/bin/env bash
# The book's GPU measurements in one run, for a machine with a CUDA GPU:
#   1. `replearn bench`: pytorch/examples' VAE and DCGAN loops against `fit`, plain and with
#      the speed options, side by side           -> $OUT/bench_<device>.json
#   2. benchmarks/epoch_times.py: seconds per epoch of every book model, and the report's
#      manual-placement claim (added to the bench JSON as results["placement"])
#                                                -> $OUT/epoch_times_<device>.json
#   3. every chapter executed on the device under nbval (its stored CPU outputs are the
#      reference), with each check's value and each chapter's wall time
#                                                -> $OUT/chapters_<device>.json, $OUT/checks_<device>.jsonl
#   and the whole log                            -> $OUT/gpu_check.log
#
# Usage:  OUT=/some/folder benchmarks/gpu_check.sh            (the full run, about 8 minutes on an H200)
#         OUT=/tmp/gc benchmarks/gpu_check.sh --quick          (seconds-scale settings, two chapters:
#                                                              the end-to-end test of this script on a CPU)
# Environment: PYTHON (default python3, which must import torch), REPLEARN_DEVICE (default cuda when
# available, else cpu), CHAPTERS (space-separated notebook names to run instead of all), JOBS
# (chapters run at once, default 4 on a GPU, 1 on a CPU).
# Afterwards copy $OUT/bench_cuda.json, epoch_times_cuda.json and chapters_cuda.json to book/results/.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
quick=0
[ "${1:-}" = "--quick" ] && quick=1
OUT=${OUT:-$root/_build/gpu_check}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
export PYTHONPATH=$root${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
log=$OUT/gpu_check.log
exec > >(tee -a "$log") 2>&1

if [ -z "${REPLEARN_DEVICE:-}" ]; then
  if $PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    REPLEARN_DEVICE=cuda
  else
    REPLEARN_DEVICE=cpu
  fi
fi
export REPLEARN_DEVICE
dev=${REPLEARN_DEVICE%%:*}
echo "gpu_check: device $REPLEARN_DEVICE, quick=$quick, $(date -u '+%Y-%m-%d %H:%M UTC'), OUT=$OUT"
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU')"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
status=0

echo "== 1. replearn bench"
if [ $quick = 1 ]; then
  bench_args=(--vae-epochs 2 --vae-subset 2000 --dcgan-iterations 4 --dcgan-warmup 1 --compile none)
else
  bench_args=()
fi
$PY -m replearn_tools bench --device "$REPLEARN_DEVICE" "${bench_args[@]}" --out "$OUT/bench_$dev.json" || status=1

echo "== 2. epoch time of every book model, and manual placement"
if [ $quick = 1 ]; then
  epoch_args=(--epochs 2 --subset 512 --models vae_20d,aae_gaussian)
else
  epoch_args=(--epochs 3)
fi
$PY benchmarks/epoch_times.py --device "$REPLEARN_DEVICE" "${epoch_args[@]}" --out "$OUT/epoch_times_$dev.json" \
  --bench-json "$OUT/bench_$dev.json" || status=1

echo "== 3. the chapters on $REPLEARN_DEVICE under nbval"
if [ -n "${CHAPTERS:-}" ]; then
  chapters=$CHAPTERS
elif [ $quick = 1 ]; then
  chapters="01_data_and_tools 06_vae"
else
  chapters=$(cd book && ls [0-9][0-9]_*.ipynb | sed 's/\.ipynb$//')
fi
jobs=${JOBS:-$([ "$dev" = cuda ] && echo 4 || echo 1)}
# A fresh checkpoint cache: every model is trained on this device, none loaded from a CPU run.
export REPLEARN_CACHE=${REPLEARN_CACHE:-$(mktemp -d)/checkpoints}
work=$(mktemp -d)
run_chapter() {
  local name=$1 start end rc
  start=$(date +%s.%N)
  REPLEARN_CHECK_LOG="$work/$name.checks.jsonl" REPLEARN_CHECK_CONTEXT="{\"chapter\": \"$name\", \"device\": \"$REPLEARN_DEVICE\"}" \
    $PY -m pytest --nbval "book/$name.ipynb" --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
    --nbval-cell-timeout=1800 -p no:cacheprovider -q --junitxml "$work/$name.xml" > "$work/$name.log" 2>&1
  rc=$?
  end=$(date +%s.%N)
  echo "{\"chapter\": \"$name\", \"returncode\": $rc, \"seconds\": $(echo "$end - $start" | bc)}" > "$work/$name.json"
  echo "  $name: exit $rc, $(echo "$end - $start" | bc | cut -c1-6) s"
}
export -f run_chapter
export PY work
echo "$chapters" | tr ' ' '\n' | grep . | xargs -P "$jobs" -I{} bash -c 'run_chapter {}'
for name in $chapters; do
  echo "---- $name (last lines of nbval)"; tail -n 25 "$work/$name.log"
done
$PY - "$work" "$OUT" "$dev" "$REPLEARN_DEVICE" $chapters <<'EOF' || status=1
import json, sys
from datetime import datetime, timezone
from pathlib import Path
import torch
work, out, dev, device, names = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5:]
rows, checks = [], []
for name in names:
    row = json.loads((work / f"{name}.json").read_text())
    log = (work / f"{name}.log").read_text()
    row["summary"] = log.strip().splitlines()[-1] if log.strip() else ""
    f = work / f"{name}.checks.jsonl"
    lines = [json.loads(l) for l in f.read_text().splitlines()] if f.exists() else []
    row["checks"] = len(lines)
    row["checks_failed"] = [l for l in lines if not l.get("ok", True)]
    checks += lines
    rows.append(row)
label = torch.cuda.get_device_name(0) if dev == "cuda" and torch.cuda.is_available() else device
record = {"device": device, "device_label": label, "torch": torch.__version__,
          "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "chapters": rows}
(out / f"chapters_{dev}.json").write_text(json.dumps(record, indent=1) + "\n")
(out / f"checks_{dev}.jsonl").write_text("".join(json.dumps(c) + "\n" for c in checks))
bad = [r["chapter"] for r in rows if r["returncode"] != 0]
print(f"chapters: {len(rows) - len(bad)} of {len(rows)} pass nbval on {label}" + (f"; failing: {bad}" if bad else ""))
sys.exit(1 if bad else 0)
EOF
echo "gpu_check: done (status $status); files in $OUT:"; ls -l "$OUT"
exit $status
