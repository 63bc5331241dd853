#!/usr/bin/env bash
# Install every Debian (bookworm) package cog needs. Idempotent and quiet:
# asks dpkg first and only runs apt-get when something is missing.
# Must run as root (CI and fresh machines); prints one line when done.
set -euo pipefail

PACKAGES=(
    bazel-bootstrap     # Bazel 4.2.3, the build (offline: see docs/build.md)
    build-essential     # gcc, make, libc headers
    g++                 # C++ header checks and tests (packaging/, tests/cxx_api_test)
    binutils            # ld -r, objcopy, ar, nm: libcog.a/.so and their checks
    pkg-config          # packaging:install_test builds against cog.pc
    python3
    liburcu-dev         # RCU (QSBR flavor) and lock-free hash table
    libcmocka-dev       # unit-test framework
    libmimalloc-dev     # allocator comparisons in bench/
    libjemalloc-dev
    libglib2.0-dev      # intern table comparison in bench/
    libgc-dev           # Boehm GC comparison in bench/
    gnuplot-nox         # plots for docs/performance.md
    spin                # model checking collector/model/*.pml
    clang               # libFuzzer builds; packaging:headers_test
    libclang-rt-14-dev
    google-perftools    # google-pprof renders cog's heap profiles (tests:pprof_test)
    python3-prometheus-client  # tests/control_test parses `cogctl metrics`
    prometheus          # ... and checks it with promtool (only promtool is used)
)

missing=()
for p in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ $status == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
    echo "setup: all ${#PACKAGES[@]} packages present"
    exit 0
fi

if ((EUID != 0)); then
    echo "setup: missing packages: ${missing[*]}" >&2
    echo "setup: run as root (or: sudo bash tools/setup.sh)" >&2
    exit 1
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
