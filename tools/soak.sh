#!/usr/bin/env bash
# A long soak (stress/soak.c: every concurrent subsystem at once) in one
# build configuration, logged, so anyone can repeat the runs recorded in
# docs/reliability.md "Results".
#
#   bash tools/soak.sh MINUTES [CONFIG] [THREADS]
#     CONFIG  default (the -O2 -g build; the default), tsan, asan, opt
#     THREADS workers (default 4)
#   e.g. bash tools/soak.sh 30            30 minutes, default config
#        bash tools/soak.sh 10 tsan       10 minutes under ThreadSanitizer
#
# The log (progress each second, then the totals, RSS at start/peak/end and
# PASS or the failure) goes to $SOAK_LOG (default
# /tmp/cog-soak-CONFIG-MINUTESm.log) and the terminal; the first lines record
# the machine (lscpu) and the commit. Exits with the soak's status.
# COG_BAZEL_STARTUP holds Bazel startup options, as for tools/test.sh (a
# private --output_base keeps this build from replacing another config's).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=tools/needs_setup.sh
source "$ROOT/tools/needs_setup.sh"
cog_ensure_setup "$ROOT"

minutes=${1:?usage: tools/soak.sh MINUTES [default|tsan|asan|opt] [THREADS]}
config=${2:-default}
threads=${3:-4}
[[ $minutes =~ ^[0-9]+$ && $minutes -gt 0 ]] || { echo "soak.sh: MINUTES must be a positive integer" >&2; exit 2; }
case $config in
default) config_args=() ;;
tsan | asan | opt) config_args=("--config=$config") ;;
*) echo "soak.sh: unknown config '$config' (default, tsan, asan, opt)" >&2; exit 2 ;;
esac
log=${SOAK_LOG:-/tmp/cog-soak-$config-${minutes}m.log}

read -r -a STARTUP <<<"${COG_BAZEL_STARTUP:-}"
bazel "${STARTUP[@]}" build --color=no --curses=no --noshow_progress "${config_args[@]}" //stress:soak
# Run a copy: a later build of another config replaces bazel-bin's binary.
bin=$(mktemp "${TMPDIR:-/tmp}/cog-soak.XXXXXX")
trap 'rm -f "$bin"' EXIT
cp "$(bazel "${STARTUP[@]}" info "${config_args[@]}" bazel-bin 2>/dev/null)/stress/soak" "$bin"
chmod 0755 "$bin"

export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:history_size=4}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
{
    echo "soak.sh: $minutes min, config $config, $threads workers, commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%Y-%m-%dT%H:%MZ)"
    echo "soak.sh: $(lscpu | grep -m1 'Model name' | tr -s ' '), $(nproc) CPUs"
} | tee "$log"
rc=0
"$bin" -t $((minutes * 60)) -n "$threads" 2>&1 | tee -a "$log" || rc=${PIPESTATUS[0]}
echo "soak.sh: exit status $rc, log $log" | tee -a "$log"
exit "$rc"
