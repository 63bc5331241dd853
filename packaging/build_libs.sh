#!/usr/bin/env bash
# Action of cog_library (packaging/defs.bzl): build libcog.a and libcog.so
# from the runtime's static archives, exporting exactly the public API.
# build_libs.sh CC LD OBJCOPY AR SONAME VERSION_NODE OUT.a OUT.so \
#     ARCHIVE... -- HEADER... -- LINKFLAG...
# Headers are INCLUDE_DIR/NAME/x.h (e.g. include/cog/object.h).
set -euo pipefail
cc=$1 ld=$2 objcopy=$3 ar=$4 soname=$5 version_node=$6 out_a=$7 out_so=$8
shift 8
archives=() headers=()
while [[ $1 != -- ]]; do archives+=("$1"); shift; done
shift
while [[ $1 != -- ]]; do headers+=("$1"); shift; done
shift
link_flags=("$@")
((${#archives[@]} && ${#headers[@]})) || { echo "build_libs.sh: no archives or no headers" >&2; exit 1; }
include_dir=$(dirname "$(dirname "${headers[0]}")")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cog-libs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# One relocatable object holding every member of every archive.
"$ld" -r -o "$tmp/all.o" --whole-archive "${archives[@]}" --no-whole-archive

# Candidates: every global cog_* symbol the object defines.
nm --defined-only -g "$tmp/all.o" | awk '$3 ~ /^cog_/ {print $3}' | sort -u >"$tmp/candidates"
# The public ones: those the headers declare. The compiler says which are
# undeclared ("'x' undeclared"); taking the address of every candidate
# works for functions, variables and thread-locals alike.
{
    for h in "${headers[@]}"; do echo "#include \"${h#"$include_dir"/}\""; done
    echo "void cog_probe_exports(void);"
    echo "void cog_probe_exports(void) {"
    sed 's/.*/    (void)\&&;/' "$tmp/candidates"
    echo "}"
} >"$tmp/probe.c"
"$cc" -std=c11 -D_GNU_SOURCE -fmax-errors=0 -I "$include_dir" -c "$tmp/probe.c" \
    -o "$tmp/probe.o" 2>"$tmp/probe.err" || true
sed -n "s/.*error: '\(cog_[A-Za-z0-9_]*\)' undeclared.*/\1/p" "$tmp/probe.err" | sort -u >"$tmp/undeclared"
grep -v "undeclared\|note:\|In function\|^\s\|^ *|" "$tmp/probe.err" >"$tmp/probe.other" || true
if grep -q 'error' "$tmp/probe.other"; then
    echo "build_libs.sh: unexpected errors in the export probe:" >&2
    cat "$tmp/probe.err" >&2
    exit 1
fi
comm -23 "$tmp/candidates" "$tmp/undeclared" >"$tmp/exports"
if ! [[ -s $tmp/exports ]]; then
    echo "build_libs.sh: no public symbol found" >&2
    exit 1
fi

# Keep only the public symbols global. Undefined symbols (libc, liburcu)
# are not affected.
"$objcopy" --keep-global-symbols="$tmp/exports" "$tmp/all.o" "$tmp/cog.o"
rm -f "$out_a" "$out_so"
"$ar" rcsD "$out_a" "$tmp/cog.o"

{
    echo "$version_node {"
    echo "    global:"
    sed 's/.*/        &;/' "$tmp/exports"
    echo "    local:"
    echo "        *;"
    echo "};"
} >"$tmp/version.map"
# -z defs: every symbol must resolve against the libraries named here, so a
# missing dependency fails now, not in the embedding program.
"$cc" -shared -o "$out_so" "$tmp/cog.o" \
    -Wl,-soname,"$soname" \
    -Wl,--version-script="$tmp/version.map" \
    -Wl,-z,defs -Wl,-z,relro -Wl,-z,now \
    "${link_flags[@]}"
