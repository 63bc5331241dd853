#!/usr/bin/env bash
# packaging:api_doc_test - docs/api.md matches the exported API
# (check_api_doc.py), and the checker really fails on each kind of drift:
# an undocumented symbol, a documented name the library lacks, an entry
# under the wrong header, an entry without description, a duplicate, and a
# declared function the library does not export.
# usage: api_doc_test.sh CHECK_API_DOC.py LIBCOG.so API.md HEADER...
set -euo pipefail
checker=$1 lib=$2 doc=$3
shift 3
headers=("$@")
work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/api_doc_test.XXXXXX")
fail() { echo "FAIL: $*" >&2; exit 1; }

echo "==== docs/api.md against $lib"
python3 "$checker" "$lib" "$doc" "${headers[@]}"

# expect_failure WHAT NEEDLE DOC [HEADER...]: the checker must fail and
# name NEEDLE.
expect_failure() {
    local what=$1 needle=$2 bad_doc=$3
    shift 3
    local hdrs=("$@")
    ((${#hdrs[@]})) || hdrs=("${headers[@]}")
    local out
    if out=$(python3 "$checker" "$lib" "$bad_doc" "${hdrs[@]}" 2>&1); then
        fail "checker passed with $what"
    fi
    grep -q -- "$needle" <<<"$out" || fail "checker failed on $what without naming $needle:
$out"
    echo "caught: $what"
}

# Entries, from the real file, so this keeps working as the API grows.
mapfile -t entries < <(grep -n '^[-*] `cog_[A-Za-z0-9_]*`' "$doc" | head -n 2)
((${#entries[@]} == 2)) || fail "fewer than two entries in $doc"
first_line=${entries[0]%%:*} first=${entries[0]#*:}
first_name=$(sed 's/^[-*] `\([^`]*\)`.*/\1/' <<<"$first")
second_line=${entries[1]%%:*}
second_name=$(sed -n "${second_line}s/^[-*] \`\([^\`]*\)\`.*/\1/p" "$doc")

sed "${first_line}d" "$doc" >"$work/missing.md"
expect_failure "$first_name undocumented" "$first_name is exported .* but not documented" "$work/missing.md"

{ cat "$doc"; echo '- `cog_no_such_function` — documented, never defined.'; } >"$work/extra.md"
expect_failure "a documented name the library lacks" "cog_no_such_function is documented but" "$work/extra.md"

# The first entry moved to the end of the file: under the last heading,
# which is another header's.
{ sed "${first_line}d" "$doc"; echo "$first"; } >"$work/moved.md"
expect_failure "$first_name under the wrong header" "$first_name is under" "$work/moved.md"

sed "${second_line}s/^\\([-*] \`[^\`]*\`\\).*/\\1/" "$doc" >"$work/nodesc.md"
expect_failure "$second_name without description" "$second_name has no description" "$work/nodesc.md"

{ cat "$doc"; echo "$first"; } >"$work/twice.md"
expect_failure "$first_name listed twice" "$first_name listed twice" "$work/twice.md"

# A public header declaring a function the library does not define.
mkdir -p "$work/include/cog"
cp "${headers[@]}" "$work/include/cog/"
cat >"$work/include/cog/zz_unimplemented.h" <<'H'
#ifndef COG_ZZ_UNIMPLEMENTED_H
#define COG_ZZ_UNIMPLEMENTED_H
int cog_declared_never_defined(void);
#endif
H
expect_failure "a declared function the library lacks" \
    "cog_declared_never_defined is declared but" "$doc" "$work"/include/cog/*.h

echo "api_doc_test: ok"
