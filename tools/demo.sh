#!/usr/bin/env bash
# THE demo command: build (optimised) and run examples/demo.c, which runs
# several attached threads doing object work and prints a short report.
# Extra arguments go to the demo.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=tools/needs_setup.sh
source "$ROOT/tools/needs_setup.sh"
cog_ensure_setup "$ROOT"

exec bazel run --color=no --config=opt //examples:demo -- "$@"
