#!/usr/bin/env bash
# Create (or complete) the project's virtual environment.
#
# Idempotent: every step checks what is already there. The slow step, building
# mmcv 2.1.0 with its C++ ops, is done once per (python, torch) pair and the
# wheel is cached under $S4M_CACHE (default ~/.cache/s4m-mm), so a second set-up
# on the same machine only installs wheels.
#
# Environment knobs:
#   S4M_VENV   path of the virtual environment          (default: ./.venv)
#   S4M_CACHE  cache for the mmcv wheel and demo assets  (default: ~/.cache/s4m-mm)
#   PYTHON     interpreter used to create the venv       (default: python3)
#   MAX_JOBS   parallel compile jobs for mmcv            (default: nproc)
#   SAM2_BUILD_CUDA  1 builds SAM 2's optional CUDA extension (default: 0)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${S4M_VENV:-$ROOT/.venv}
CACHE=${S4M_CACHE:-$HOME/.cache/s4m-mm}
PYTHON=${PYTHON:-python3}
TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
MMCV_VERSION=2.1.0
SAM2_VERSION=1.1.0

log() { printf '[setup] %s\n' "$*" >&2; }

if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtual environment $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=(pip_quiet)
# pip's find-links warnings about local index folders are noise here.
pip_quiet() {
  "$PY" -m pip --disable-pip-version-check -q "$@" 2> >(grep -v '^WARNING: Location' >&2)
}

have() { "$PY" - "$@" <<'PYEOF' 2>/dev/null
import sys
from importlib.metadata import version, PackageNotFoundError
for spec in sys.argv[1:]:
    name, _, want = spec.partition('==')
    try:
        got = version(name)
    except PackageNotFoundError:
        sys.exit(1)
    if want and got.split('+')[0] != want:
        sys.exit(1)
PYEOF
}

if ! have "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION" "setuptools==80.9.0"; then
  log "installing torch $TORCH_VERSION, torchvision $TORCHVISION_VERSION"
  "${PIP[@]}" install "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION" \
    "setuptools==80.9.0" wheel ninja
fi

if ! have "mmcv==$MMCV_VERSION"; then
  PYTAG=$("$PY" -c 'import sys; print(f"cp{sys.version_info.major}{sys.version_info.minor}")')
  WHEELS="$CACHE/wheels/mmcv-$MMCV_VERSION-torch$TORCH_VERSION-$PYTAG-$(uname -m)"
  if ! ls "$WHEELS"/mmcv-*.whl >/dev/null 2>&1; then
    log "building mmcv $MMCV_VERSION with ops from source (about 10 minutes on 2 cores, once)"
    BUILD=$(mktemp -d)
    trap 'rm -rf "$BUILD"' EXIT
    "${PIP[@]}" download --no-deps --no-binary :all: "mmcv==$MMCV_VERSION" -d "$BUILD"
    tar -xzf "$BUILD"/mmcv-"$MMCV_VERSION".tar.gz -C "$BUILD"
    SRC="$BUILD/mmcv-$MMCV_VERSION"
    # torch >= 2.10 headers need C++20; mmcv 2.1.0 asks for C++17.
    sed -i 's/-std=c++17/-std=c++20/g' "$SRC/setup.py"
    mkdir -p "$WHEELS"
    (cd "$SRC" && MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
      "$PY" -m pip --disable-pip-version-check -q wheel --no-build-isolation --no-deps . -w "$WHEELS")
  fi
  log "installing cached mmcv wheel from $WHEELS"
  "${PIP[@]}" install --no-deps "$WHEELS"/mmcv-*.whl
fi

log "installing the pinned stack and s4m-mm (editable)"
"${PIP[@]}" install -r "$ROOT/requirements.txt"

# SAM 2 (the paper's SAM) ships as an sdist whose build needs torch: build it
# against the torch above, without its optional CUDA extension unless asked
# (SAM2_BUILD_CUDA=1 on a machine with nvcc; it only speeds up SAM 2's
# hole-filling post-processing, which s4m-mm does not use).
if ! have "sam2==$SAM2_VERSION"; then
  log "installing sam2 $SAM2_VERSION (SAM2_BUILD_CUDA=${SAM2_BUILD_CUDA:-0})"
  SAM2_BUILD_CUDA=${SAM2_BUILD_CUDA:-0} "${PIP[@]}" install \
    --no-build-isolation --no-deps "sam2==$SAM2_VERSION"
fi
"${PIP[@]}" install --no-deps --no-build-isolation -e "$ROOT"
"$PY" "$ROOT/tools/dataset_converters/prepare_nuclei_demo.py" --fetch-only >&2
log "environment ready: $VENV"
