#!/usr/bin/env bash
# Fills .gpu_carry/ (git-ignored) with what benchmarks/gpu_check.sh needs on a GPU machine that reaches no network:
#   wheels/     hydra-core, omegaconf, antlr4, lpips, pyiqa (pure-Python wheels, ../shared/wheels/py312), and
#               kornia + kornia_rs for CPython 3.12 (the degradations stage), downloaded from the package index
#   data/Set5/  Set5 HR + LR_bicubic (validation of the learning run)
#   BSDS200/HR  the first $GANSR_CARRY_IMAGES (default 100) BSDS200 HR images, and BSDS200/LR_bicubic/X4 made
#               here once with the MATLAB-exact bicubic (so the GPU run starts training at once)
# Usage: benchmarks/prepare_gpu_carry.sh            (about 35 MB; the device tool carries at most 64 MiB in all)
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED_DATA=${GANSR_SHARED_DATA:-../shared/data}
WHEELS=${GANSR_WHEELS:-../shared/wheels/py312}
IMAGES=${GANSR_CARRY_IMAGES:-100}
PYTHON=${PYTHON:-python3}
CARRY=.gpu_carry
for need in "$SHARED_DATA/Set5/HR" "$SHARED_DATA/BSDS200/HR" "$WHEELS"; do
  [ -d "$need" ] || { echo "prepare_gpu_carry: $need is missing (set GANSR_SHARED_DATA / GANSR_WHEELS)" >&2; exit 1; }
done
rm -rf "$CARRY" && mkdir -p "$CARRY/wheels" "$CARRY/data" "$CARRY/BSDS200/HR"
cp "$WHEELS"/*.whl "$CARRY/wheels/"
"$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d "$CARRY/wheels" "kornia==$("$PYTHON" -c 'import kornia; print(kornia.__version__)')" \
  "kornia_rs==$("$PYTHON" -m pip show kornia_rs | awk '/^Version/{print $2}')"
cp -r "$SHARED_DATA/Set5" "$CARRY/data/Set5"
ls "$SHARED_DATA/BSDS200/HR" | sort | head -n "$IMAGES" | while read -r f; do cp "$SHARED_DATA/BSDS200/HR/$f" "$CARRY/BSDS200/HR/"; done
PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH} "$PYTHON" -c "
from gansr.data.datasets import HRFolderDataset
d = HRFolderDataset('train', '$CARRY/BSDS200/HR', scale=4, patch_size=128)
d.prepare()
print(f'{len(d)} training images, LR cached beside them')"
du -sh "$CARRY"
