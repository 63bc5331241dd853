#!/usr/bin/env bash
# packaging:headers_test - the public headers compile cleanly as C and as
# C++, each one on its own (it includes what it needs), and the C++ view of
# the API links with C linkage against libcog.so.
#   C:   gcc (and clang if installed), -std=c11 and c17, -pedantic -Werror
#        plus the warnings embedding projects commonly turn on (the inline
#        fast paths of cog/object.h are compiled in the caller's TU);
#   C++: g++ (and clang++), -std=c++11, c++17 and c++20, likewise;
#   each header twice in one TU (include guard);
#   every exported function and variable of libcog.so, except the cog__
#   internals, is declared by cog/cog.h in C++ and links unmangled (extern
#   "C"), including cog_incref/cog_decref, inline only in C.
# usage: headers_test.sh LIBCOG.so HEADER...   (headers: DIR/cog/x.h)
set -euo pipefail
libcog=$1
shift
headers=("$@")
((${#headers[@]})) || { echo "FAIL: no headers given" >&2; exit 1; }
include_dir=$(dirname "$(dirname "${headers[0]}")")
work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/headers_test.XXXXXX")

c_flags=(-pedantic -Wall -Wextra -Werror -Wcast-qual -Wshadow -Wundef -Wconversion
    -Wsign-conversion -Wstrict-prototypes -Wmissing-prototypes -Wredundant-decls)
cxx_flags=(-pedantic -Wall -Wextra -Werror -Wcast-qual -Wshadow -Wundef -Wconversion
    -Wold-style-cast -Wzero-as-null-pointer-constant -Wredundant-decls)

c_compilers=(gcc) cxx_compilers=(g++)
if command -v clang >/dev/null && command -v clang++ >/dev/null; then
    c_compilers+=(clang) cxx_compilers+=(clang++)
else
    echo "note: clang not installed, checking with gcc only"
fi

failures=0 checks=0
# compile LANG-EXT COMPILER STD FLAGS... -- HEADER...: one TU including the
# headers (each twice), compiled to an object.
compile() {
    local ext=$1 compiler=$2 std=$3
    shift 3
    local flags=()
    while [[ $1 != -- ]]; do flags+=("$1"); shift; done
    shift
    local tu="$work/tu_$((checks)).$ext"
    : >"$tu"
    local h
    for h in "$@" "$@"; do echo "#include \"${h#"$include_dir"/}\"" >>"$tu"; done
    checks=$((checks + 1))
    if ! "$compiler" "-std=$std" "${flags[@]}" -I "$include_dir" -c "$tu" -o "$work/tu.o" 2>"$work/err"; then
        failures=$((failures + 1))
        echo "FAIL: $compiler -std=$std: ${*#"$include_dir"/}"
        sed 's/^/    /' "$work/err"
    fi
}

for h in "${headers[@]}"; do
    for cc in "${c_compilers[@]}"; do
        for std in c11 c17; do compile c "$cc" "$std" "${c_flags[@]}" -- "$h"; done
    done
    for cxx in "${cxx_compilers[@]}"; do
        for std in c++11 c++17 c++20; do compile cc "$cxx" "$std" "${cxx_flags[@]}" -- "$h"; done
    done
done
echo "standalone headers: $checks compilations, $failures failed"

# C linkage of the whole API in C++: take the address of every public
# symbol libcog.so exports and link against it. A declaration missing from
# the C++ view fails to compile; one outside extern "C" fails to link
# (mangled name).
nm -D --defined-only "$libcog" | awk '$2 != "A" {sub(/@.*/, "", $3); print $3}' \
    | grep '^cog_' | grep -v '^cog__' | sort -u >"$work/api"
n=$(wc -l <"$work/api")
((n > 50)) || { echo "FAIL: only $n public symbols in $libcog"; exit 1; }
{
    echo '#include "cog/cog.h"'
    echo 'const void *const cog_api[] = {'
    sed 's/.*/    reinterpret_cast<const void *>(\&&),/' "$work/api"
    echo '};'
    echo 'int main() { return cog_api[0] == nullptr; }'
} >"$work/linkage.cc"
if g++ -std=c++17 -Wall -Wextra -Werror -I "$include_dir" "$work/linkage.cc" \
    -L "$(dirname "$libcog")" -l:"$(basename "$libcog")" -o "$work/linkage" 2>"$work/err"; then
    echo "C++ linkage: $n public symbols declared and linked from C++"
else
    failures=$((failures + 1))
    echo "FAIL: C++ program taking the address of the $n public symbols:"
    sed 's/^/    /' "$work/err"
fi

((failures == 0)) || { echo "headers_test: $failures failure(s)"; exit 1; }
echo "headers_test: ok"
