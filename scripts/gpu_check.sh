#!/usr/bin/env bash
# The prepared GPU check (docs/container.md, "The prepared GPU check"): run from the repository root on a
# machine with an NVIDIA GPU and Python 3.12 where torch and JAX (CUDA builds) are installed and
# TensorFlow, keras and pydantic need not be; no network is needed.
#
#   bash scripts/gpu_check.sh [options of kerasbench gpu-check]
#
# What the stages need beyond torch, JAX, numpy, pandas, scikit-learn, psutil, PyYAML and
# matplotlib (keras, pydantic, ruamel.yaml, nvidia-ml-py and their small dependencies) is
# installed from the wheels in $KERASBENCH_WHEELS (default: .whl/, gitignored) into a folder of
# its own, never into the system's site-packages. Fill .whl/ beforehand, where pip has network:
#
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 -d .whl \
#       $(python3 -m kerasbench gpu-check --list-wheels)
#
# Sized to finish within 8 minutes on an H100 (3 epochs of 50,000 images per run, 12 stage runs);
# it has not run on a GPU yet.
set -euo pipefail
cd "$(dirname "$0")/.."
wheels=${KERASBENCH_WHEELS:-.whl}
site=${KERASBENCH_SITE:-/tmp/kerasbench-gpu-check-site}
python=${PYTHON:-python3}

missing=$("$python" - <<'PY'
import importlib.util
needed = {"keras": "keras", "pydantic": "pydantic", "ruamel.yaml": "ruamel.yaml", "pynvml": "nvidia-ml-py",
          "tabulate": "tabulate", "yaml": "PyYAML", "sklearn": "scikit-learn", "pandas": "pandas", "psutil": "psutil"}
print(" ".join(dist for module, dist in needed.items() if importlib.util.find_spec(module) is None))
PY
)
if [[ -n $missing ]]; then
  if ! compgen -G "$wheels/*.whl" >/dev/null; then
    echo "gpu_check: missing $missing and no wheels in $wheels/ to install them from (see the top of $0)" >&2
    exit 2
  fi
  echo "gpu_check: installing from $wheels/ into $site: $missing" >&2
  "$python" -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target "$site" "$wheels"/*.whl
  export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
exec "$python" -m kerasbench gpu-check "$@"
