#!/usr/bin/env bash
# Downloads into .whl (at the repository root) the Python 3.12 wheels that a bare GPU machine with torch,
# transformers, accelerate and peft lacks, so benchmarks/gpu.sh runs there with no internet (about 21 MB).
set -eu
cd "$(dirname "$0")/.."
mkdir -p .whl
platforms="--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64"
for package in trl==1.16.0 datasets==5.2.0 transformers==5.19.0 peft==0.21.2 pydantic pydantic-core \
    math-verify==0.9.0 latex2sympy2-extended antlr4-python3-runtime nltk dill multiprocess "fsspec<=2026.9.0" \
    "regex>=2025.10.22" "typing-extensions>=4.16" annotated-types typing-inspection; do
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp $platforms \
    -d .whl "$package"
done
python3 -m pip wheel -q --no-deps rouge-score==0.1.2 -w .whl
# pydantic pins pydantic-core exactly: keep the pair that belongs together.
core=$(unzip -p .whl/pydantic-2*.whl '*/METADATA' | sed -n 's/^Requires-Dist: pydantic-core==//p')
ls .whl/pydantic_core-"$core"-* > /dev/null 2>&1 || python3 -m pip download -q --no-deps --only-binary=:all: \
  --python-version 3.12 --implementation cp $platforms -d .whl "pydantic-core==$core"
du -sh .whl
