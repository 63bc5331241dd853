#!/usr/bin/env bash
# tests/coroutine_tls_check.sh ARCHIVE... - a sliced collection's code runs
# on a coroutine that moves between threads (collector/gc_slice.c). A
# function whose frame spans a yield must not reach thread-local storage
# through an address computed before the yield: after it, that address
# would be the previous thread's. Reads through %fs with an offset
# (initial-exec or local-exec TLS) are fine: %fs is the current thread's.
# So the collector's code may neither call __tls_get_addr (general- and
# local-dynamic TLS, whose result the compiler may keep in a register) nor
# load the thread pointer itself (%fs:0 without a TPOFF relocation, the
# way &tls_var is computed). %fs:0x28, the stack protector's canary, is
# the same value in every thread.
set -euo pipefail
fail=0
for a in "$@"; do
    out=$(objdump -dr --no-show-raw-insn "$a" | awk '
        /^[0-9a-f]+ <.*>:$/ { fn = $2 }
        pending { if ($0 !~ /R_X86_64_TPOFF32/) { print fn ": " last; bad = 1 } pending = 0 }
        /__tls_get_addr/ { print fn ": " $0; bad = 1 }
        /%fs:0x0,/ { pending = 1; last = $0 }
        END { exit bad }') || { echo "$out"; fail=1; }
done
if [ "$fail" -ne 0 ]; then
    echo "coroutine_tls_check: the collector reaches TLS through a cached address (above);" \
         "give the variable tls_model(\"initial-exec\")"
    exit 1
fi
echo "coroutine_tls_check: ok ($# archive(s))"
