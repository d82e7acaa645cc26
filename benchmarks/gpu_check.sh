#!/usr/bin/env bash
# benchmarks/gpu_check.sh: the GPU figures of issue 12 in ONE run of at most 8 minutes on a CUDA machine that
# reaches no network. Every figure goes to $OUT/gpu_check.json as soon as it is measured (a stage stopped by its
# `timeout` keeps what it wrote); the full log is $OUT/gpu_check.log.
#
#   benchmarks/prepare_gpu_carry.sh                     # here, once: fills the git-ignored .gpu_carry/ (~36 MB)
#   benchmarks/gpu_check.sh                             # there: device tool run, carry [".gpu_carry"], timeout_s 600
#   benchmarks/gpu_check.sh --cpu-smoke                 # here: every stage for 1-4 iterations, tiny networks, CPU
#
# Stages in order (limit in seconds; no stage starts once GPU_CHECK_BUDGET=470 s are spent, and each is cut to
# what is left):
#   environment 10 | matmul peak 30 | sync test 60 (tests/test_step_syncs.py on CUDA: set_sync_debug_mode error)
#   eager 100: ESRGAN, FASRGAN, Fs-SRGAN, ESRGAN-PSNR in fp32, TF32, bf16; Lightning vs bare (benchmarks/presets.py)
#   degradations 40: BD, DN, Real-ESRGAN's pipeline per batch of 16 on the GPU (benchmarks/degradations.py)
#   endtoend 60: gansr-train esrgan trainer=gpu on the BSDS200 folder (benchmarks/endtoend.py speed)
#   learn 230: gansr-train esrgan_psnr trainer=gpu on the BSDS200 folder, Set5 PSNR-Y every 500 iterations, for
#          3 minutes or what is left of the budget (benchmarks/endtoend.py learn)
#   precision 160: esrgan_psnr for PRECISION_ITERATIONS (default 400) iterations in 32-true (+TF32, the tables'
#          default) and in bf16-mixed, same seed and data, Set5 PSNR-Y every 200: the two curves and their last
#          difference (benchmarks/endtoend.py learn --precision; issue 20 item 4, docs/tables.md)
#   compiled 150: ESRGAN-PSNR then ESRGAN, compiled bf16, compile seconds | cudagraphs 90: reduce-overhead
set -uo pipefail
cd "$(dirname "$0")/.."
SMOKE=0
[ "${1:-}" = "--cpu-smoke" ] && SMOKE=1
OUT=${OUT:-$PWD/gpu_check_out}
mkdir -p "$OUT"
JSON=$OUT/gpu_check.json
LOG=$OUT/gpu_check.log
CARRY=${GPU_CARRY:-.gpu_carry}
PY=${PYTHON:-python3}
BUDGET=${GPU_CHECK_BUDGET:-470}
START=$(date +%s)
: > "$LOG"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD/src:$PWD/benchmarks${PYTHONPATH:+:$PYTHONPATH}
if [ "$SMOKE" = 0 ]; then
  [ -d "$CARRY/wheels" ] || { echo "gpu_check: $CARRY/wheels missing: run benchmarks/prepare_gpu_carry.sh and carry $CARRY" >&2; exit 2; }
  $PY -m pip install -q --no-index --no-deps --no-compile --target /tmp/gansr_site "$CARRY"/wheels/*.whl >> "$LOG" 2>&1 \
    || { echo "gpu_check: installing the carried wheels failed (see $LOG)" >&2; exit 2; }
  export PYTHONPATH=$PYTHONPATH:/tmp/gansr_site
fi

record() {  # record NAME RC SECONDS LIMIT: the stage's outcome under "stages"
  $PY -c "
import json, os, sys  # stdlib only: starts in milliseconds
path = '$JSON'; data = json.load(open(path)) if os.path.isfile(path) else {}; rc = int(sys.argv[2])
data.setdefault('stages', {})[sys.argv[1]] = {'returncode': rc, 'seconds': float(sys.argv[3]), 'limit_s': int(sys.argv[4]),
    'outcome': 'ok' if rc == 0 else 'timed out' if rc in (124, 137) else 'skipped' if rc == -1 else 'failed'}
json.dump(data, open(path + '.tmp', 'w'), indent=2); os.replace(path + '.tmp', path)" "$@"
}

stage() {  # stage NAME LIMIT COMMAND...: run with `timeout`, within what is left of the budget
  local name=$1 limit=$2 left t0 rc
  shift 2
  left=$((BUDGET - ($(date +%s) - START)))
  [ "$SMOKE" = 1 ] && left=$((limit * 20))
  if [ "$left" -lt 20 ]; then echo "[gpu_check] $name: skipped (budget spent)" | tee -a "$LOG"; record "$name" -1 0 0; return; fi
  [ "$left" -lt "$limit" ] && limit=$left
  [ "$SMOKE" = 1 ] && limit=$((limit * 20))  # CPU smoke runs are slow; they test the plumbing, not the time
  echo "[gpu_check] $name (limit ${limit}s, $(( $(date +%s) - START ))s spent)" | tee -a "$LOG"
  t0=$(date +%s)
  timeout -k 5 "$limit" "$@" >> "$LOG" 2>&1
  rc=$?
  record "$name" "$rc" "$(( $(date +%s) - t0 ))" "$limit"
  echo "[gpu_check] $name: rc=$rc in $(( $(date +%s) - t0 ))s" | tee -a "$LOG"
}

if [ "$SMOKE" = 1 ]; then
  DATA=${GANSR_SHARED_DATA:-$PWD/../shared/data}
  HR=$DATA/BSDS200/HR
  SMOKE_HR=$(mktemp -d)/HR && mkdir -p "$SMOKE_HR" && ls "$HR" | sort | head -3 | while read -r f; do cp "$HR/$f" "$SMOKE_HR/"; done
  HR=$SMOKE_HR
  TINY=(--tiny --warmup 1 --iters 1)
  PRESETS_EAGER=(--presets esrgan esrgan_psnr)
  PRESETS_COMPILED=(--presets esrgan_psnr)
  E2E=(--iterations 2 --cpu-smoke)
  LEARN=(--minutes 2 --val-every 2 --cpu-smoke)
  PRECISION=(--max-iterations 4 --val-every 2 --cpu-smoke)
else
  HR=$CARRY/BSDS200/HR
  DATA=$CARRY/data
  TINY=(--warmup 2 --iters 10)
  PRESETS_EAGER=(--presets esrgan fasrgan fs_srgan esrgan_psnr)
  PRESETS_COMPILED=(--presets esrgan_psnr esrgan)  # the PSNR stage first: its G compiles alone, and the cache helps ESRGAN
  E2E=(--iterations 150)
  LEARN=(--val-every 500)
  PRECISION=(--max-iterations "${PRECISION_ITERATIONS:-400}" --val-every 200)
fi

stage environment 10 $PY -c "
import json, platform, subprocess, torch; from common import update_json, device_name
smi = subprocess.run(['nvidia-smi', '--query-gpu=name,memory.total,driver_version,clocks.sm', '--format=csv,noheader'],
                     capture_output=True, text=True).stdout.strip() if torch.cuda.is_available() else None
update_json('$JSON', 'environment', {'device': device_name(), 'torch': torch.__version__, 'python': platform.python_version(),
            'cuda': torch.version.cuda, 'nvidia_smi': smi, 'cpu_smoke': bool($SMOKE)})"
stage matmul 30 $PY -c "
from common import update_json; from steps import matmul_peak; update_json('$JSON', 'matmul', matmul_peak())"
stage sync_test 60 $PY -m pytest tests/test_step_syncs.py -q -p no:cacheprovider -k "cuda or logging_iterations" \
  --junitxml="$OUT/sync_test.xml"
stage eager 100 $PY benchmarks/presets.py --out "$JSON" "${PRESETS_EAGER[@]}" --settings "eager fp32" "eager tf32" "eager bf16" \
  --lightning "eager bf16" "${TINY[@]}"
stage degradations 40 $PY benchmarks/degradations.py --out "$JSON" --batch 16 --repeats 5
stage endtoend 60 $PY benchmarks/endtoend.py speed --out "$JSON" --hr-dir "$HR" "${E2E[@]}"
LEFT=$((BUDGET - ($(date +%s) - START) - 40))
[ "$SMOKE" = 0 ] && LEARN+=(--minutes "$($PY -c "print(round(min(3.0, max($LEFT, 0) / 60), 2))")")
stage learn 230 $PY benchmarks/endtoend.py learn --out "$JSON" --hr-dir "$HR" --data-dir "$DATA" "${LEARN[@]}"
stage precision 160 bash -c "$PY benchmarks/endtoend.py learn --out '$JSON' --hr-dir '$HR' --data-dir '$DATA' \
  --precision 32-true ${PRECISION[*]} && $PY benchmarks/endtoend.py learn --out '$JSON' --hr-dir '$HR' \
  --data-dir '$DATA' --precision bf16-mixed ${PRECISION[*]}"
stage compiled 150 $PY benchmarks/presets.py --out "$JSON" "${PRESETS_COMPILED[@]}" --settings "compiled bf16" "${TINY[@]}"
stage cudagraphs 90 $PY benchmarks/presets.py --out "$JSON" --presets esrgan_psnr --settings "compiled bf16 cudagraphs" "${TINY[@]}"

$PY -c "
import json; from common import read_json; from run import degradation_table, gpu_table
r = read_json('$JSON')
print(json.dumps({k: v for k, v in r.items() if k in ('environment', 'matmul', 'stages', 'iterations')}, indent=1))
print('\n'.join(gpu_table(r) + degradation_table(r.get('degradations', {}))))
l = r.get('endtoend_learn', {})
print('learn:', l.get('iterations_per_s'), 'it/s;', [(p['step'], p['psnr_y']) for p in l.get('set5_psnr_y_curve', [])])
curves = {p: [c['psnr_y'] for c in r.get('endtoend_learn_' + p, {}).get('set5_psnr_y_curve', [])] for p in ('32-true', 'bf16-mixed')}
print('precision (Set5 PSNR-Y per validation):', curves,
      'last bf16 - fp32:', curves['bf16-mixed'][-1] - curves['32-true'][-1] if all(curves.values()) else None)"
echo "[gpu_check] done in $(( $(date +%s) - START ))s: $JSON"
