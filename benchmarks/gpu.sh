#!/usr/bin/env bash
# The GPU check of issue 17 (benchmarks/gpu.py): one prepared script, about 8 minutes on one H100, no internet.
#   bash benchmarks/gpu.sh [OUT]        # results in OUT/gpu.json (default benchmarks/results)
# Packages a bare GPU machine lacks (trl, datasets, pydantic, math-verify, ...) travel as wheels in .whl at the
# repository root: make them on a machine with internet with `bash benchmarks/gpu_wheels.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target "$PWD/.site" .whl/*.whl
  export PYTHONPATH="$PWD/.site:$PWD"
fi
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
cd benchmarks
python3 gpu.py --out "${1:-${OUT:-results}}"
