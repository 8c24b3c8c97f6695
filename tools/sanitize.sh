#!/usr/bin/env bash
# Build fastconv with AddressSanitizer + UndefinedBehaviorSanitizer in a throwaway copy
# of the source tree and run a reduced test suite under it. Exits non-zero on any
# sanitizer report or test failure. The developer's in-tree build is never touched.
#
# Usage:  tools/sanitize.sh [extra pytest args]
#         HYPOTHESIS_PROFILE=thorough tools/sanitize.sh     # a 10x longer geometry search
# Takes about a minute on 2 cores (build ~35 s at -O1, tests ~20 s).
#   PYTHON=python3           interpreter to build and test with (needs Cython, numpy,
#                            setuptools, pytest, hypothesis)
#   SANITIZE_KEEP=1          keep the temporary directory (its path is printed)
#   SANITIZE_TESTS="..."     override the test files (default: every file that drives the
#                            C kernels: parity, validation, geometry search, threads,
#                            determinism, memory, conv family, depthwise, batch norm,
#                            upsampling, activations, small-batch paths, the op table)
#   SANITIZE_JOBS=2          parallel extension builds
#   HYPOTHESIS_PROFILE=...   e.g. thorough, for a longer geometry search
#
# gcc or clang; the sanitizer runtime is preloaded into the (uninstrumented) Python
# interpreter: libasan first, as ASan requires.
set -euo pipefail

PYTHON=${PYTHON:-python3}
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CC=${CC:-gcc}
DEFAULT_TESTS="tests/test_functional_parity.py tests/test_validation.py
  tests/test_geometry_search.py tests/test_threads.py tests/test_determinism.py tests/test_memory.py
  tests/test_conv_family.py tests/test_depthwise_speedpaths.py tests/test_batchnorm.py
  tests/test_upsampling.py tests/test_activations_ext.py tests/test_small_batch_paths.py
  tests/test_ops_table.py tests/test_kernel_paths.py tests/test_single_image_split.py
  tests/test_pointwise_batch.py tests/test_depthwise_rows.py tests/test_inference_program.py
  tests/test_direct_short_rows.py tests/test_winograd4.py tests/test_winograd_s2.py
  tests/test_conv_backward_fused.py"
TESTS=${SANITIZE_TESTS:-$DEFAULT_TESTS}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/fastconv-sanitize.XXXXXX")
cleanup() {
    if [ "${SANITIZE_KEEP:-0}" = "1" ]; then echo "sanitize: kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

echo "sanitize: copying $SRC to $WORK/src"
mkdir -p "$WORK/src"
# The working tree as it is (committed or not), without build products.
tar -C "$SRC" --exclude=./build --exclude=./.git --exclude='*.so' --exclude='*.o' \
    --exclude='./fastconv/_*.c' --exclude=.hypothesis --exclude=.pytest_cache \
    --exclude=.benchmarks --exclude='__pycache__' --exclude='./.venv*' -cf - . \
    | tar -C "$WORK/src" -xf -

LIBASAN=$($CC -print-file-name=libasan.so)
if [ ! -e "$LIBASAN" ]; then
    echo "sanitize: $CC has no libasan.so ($LIBASAN); install the compiler's ASan runtime" >&2
    exit 2
fi
# Resolve the symlink chain: LD_PRELOAD wants a real file path.
LIBASAN=$(readlink -f "$LIBASAN")

echo "sanitize: building with FASTCONV_SANITIZE=1 (-fsanitize=address,undefined)"
(
    cd "$WORK/src"
    CC=$CC FASTCONV_SANITIZE=1 FASTCONV_DEBUG=${FASTCONV_DEBUG:-0} \
        "$PYTHON" setup.py build_ext --inplace -q -j "${SANITIZE_JOBS:-2}" > "$WORK/build.log" 2>&1
) || { tail -40 "$WORK/build.log"; echo "sanitize: BUILD FAILED" >&2; exit 2; }

# The extensions must really be instrumented (guards against a silently ignored flag).
for so in "$WORK"/src/fastconv/_*.so; do
    syms=$(nm -D "$so" 2>/dev/null || true)
    for rt in __asan_ __ubsan_; do
        if ! grep -q "$rt" <<< "$syms"; then
            echo "sanitize: $so is not instrumented ($rt symbols missing)" >&2
            exit 2
        fi
    done
done
echo "sanitize: extensions are instrumented (ASan + UBSan)"

LOG="$WORK/pytest.log"
REPORTS="$WORK/reports"
mkdir -p "$REPORTS"
echo "sanitize: running $TESTS"
set +e
(
    cd "$WORK/src"
    # detect_leaks=0: CPython leaks by design at exit.
    # allocator_may_return_null=1: an impossible allocation returns NULL (the tests expect
    # MemoryError) instead of ASan aborting the process.
    # log_path: every report of every process (the validation table runs in child
    # interpreters) also lands in a file we scan afterwards.
    LD_PRELOAD="$LIBASAN" \
    ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:halt_on_error=1:abort_on_error=0:detect_odr_violation=0:log_path=$REPORTS/asan" \
    UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$REPORTS/ubsan" \
    FASTCONV_SANITIZED_RUN=1 \
    PYTHONPATH="$WORK/src" \
    PYTHONDONTWRITEBYTECODE=1 \
    "$PYTHON" -m pytest $TESTS -q -p no:cacheprovider "$@"
) 2>&1 | tee "$LOG"
status=${PIPESTATUS[0]}
set -e

nreports=0
for f in "$REPORTS"/*; do
    [ -e "$f" ] || continue
    if grep -qE "ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer|SUMMARY: (Address|UndefinedBehavior)Sanitizer" "$f"; then
        nreports=$((nreports + 1))
        echo "==== sanitizer report $f ===="
        head -60 "$f"
    fi
done
if grep -qE "ERROR: AddressSanitizer|runtime error:" "$LOG"; then
    nreports=$((nreports + 1))
fi

echo "sanitize: pytest exit status $status, sanitizer reports: $nreports"
if [ "$status" -ne 0 ] || [ "$nreports" -ne 0 ]; then
    echo "sanitize: FAILED" >&2
    exit 1
fi
echo "sanitize: OK (zero ASan/UBSan reports)"
