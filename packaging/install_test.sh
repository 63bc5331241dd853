#!/usr/bin/env bash
# packaging:install_test - an outside-Bazel build links against an
# installed cog. Installs the dist tarball with tools/install.sh into a
# temporary prefix, checks the installed tree, then builds
# examples/pkgconfig_hello.{c,cc} with the system compilers using only
# pkg-config, and runs them:
#   C   + libcog.so  (pkg-config cog)
#   C++ + libcog.so
#   C   + libcog.a   (pkg-config cog-static)
#   C++ + libcog.a
#   C, fully static  (cc -static, pkg-config --static cog)
# and that a program can dlopen the installed libcog.so.
# usage: install_test.sh INSTALL.SH DIST.TAR HELLO.C HELLO.CC
set -euo pipefail
install_sh=$1 dist=$2 hello_c=$3 hello_cc=$4

fail() { echo "FAIL: $*" >&2; exit 1; }
work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/install_test.XXXXXX")
prefix=$work/prefix

bash "$install_sh" --dist "$dist" "$prefix"
# Installing twice over the same prefix works (links and files replaced).
bash "$install_sh" --dist "$dist" "$prefix"

for f in include/cog/cog.h include/cog/object.h lib/libcog.a lib/libcog.so \
    lib/pkgconfig/cog.pc lib/pkgconfig/cog-static.pc; do
    [[ -e $prefix/$f ]] || fail "$f not installed"
done
so=$(readlink -f "$prefix/lib/libcog.so")
[[ $so == "$prefix"/lib/libcog.so.*.*.* ]] || fail "libcog.so resolves to $so"
soname=$(readelf -d "$so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[[ $soname =~ ^libcog\.so\.[0-9]+$ && -L $prefix/lib/$soname ]] \
    || fail "soname '$soname' missing or not installed as a link"
[[ $(ar t "$prefix/lib/libcog.a" | wc -l) == 1 ]] \
    || fail "libcog.a should hold one object (collector always linked)"

# Nothing but the cog_ API is exported, from either library; and they
# export the same symbols.
nm -D --defined-only "$so" | awk '$2 != "A" {sub(/@.*/, "", $3); print $3}' | sort >"$work/so.syms"
nm -g --defined-only "$prefix/lib/libcog.a" | awk 'NF == 3 {print $3}' | sort >"$work/a.syms"
[[ -s $work/so.syms ]] || fail "libcog.so exports nothing"
if grep -v '^cog_' "$work/so.syms"; then fail "libcog.so exports the names above"; fi
diff -u "$work/so.syms" "$work/a.syms" || fail "libcog.a and libcog.so export different symbols"
# Internal functions named cog_* (not in the headers) stay hidden.
! grep -qx 'cog_heap_alloc' "$work/so.syms" || fail "internal cog_heap_alloc is exported"
grep -qx 'cog__incref_shared' "$work/so.syms" || fail "cog__incref_shared (inline fast path) not exported"

export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
version=$(pkg-config --modversion cog)
[[ $so == *".so.$version" ]] || fail "cog.pc version $version does not match $so"
[[ $(pkg-config --variable=prefix cog) == "$prefix" ]] || fail "cog.pc prefix is not $prefix"
requires=$(pkg-config --print-requires-private cog)
grep -q liburcu-qsbr <<<"$requires" || fail "cog.pc lacks liburcu-qsbr: $requires"

expected="hello 4242 (tuple of 2)
collector found 1 unreachable object(s)
ok"
strict=(-Wall -Wextra -Werror)

# build_and_run NAME DYNAMIC(yes|no|static) COMPILER... : compile, check how
# cog got linked, run, compare the output.
build_and_run() {
    local name=$1 linkage=$2
    shift 2
    local exe=$work/$name
    echo "---- $name: $* -o $exe"
    "$@" -o "$exe" || fail "$name: build failed"
    local needed
    needed=$(readelf -d "$exe" | grep NEEDED || true)
    case $linkage in
        yes)
            grep -q "\[$soname\]" <<<"$needed" || fail "$name: not linked against $soname"
            # The loader resolves it to the installed library. (ldd's output
            # is captured first: grep -q would close the pipe early and
            # pipefail turn ldd's SIGPIPE into a failure.)
            local resolved
            resolved=$(LD_LIBRARY_PATH=$prefix/lib ldd "$exe")
            grep -qF "$soname => $prefix/lib/$soname " <<<"$resolved" \
                || fail "$name: $soname does not resolve to $prefix/lib:
$resolved"
            ;;
        no) ! grep -q libcog <<<"$needed" || fail "$name: linked against libcog.so" ;;
        static) [[ -z $needed ]] || fail "$name: not fully static: $needed" ;;
    esac
    local out
    out=$(LD_LIBRARY_PATH=$prefix/lib "$exe") || fail "$name: exited $?"
    [[ $out == "$expected" ]] || fail "$name: output was:
$out"
    echo "$name: ok"
}

# Word splitting of the pkg-config output is intended (the README's recipe).
# shellcheck disable=SC2046
{
    build_and_run c_shared yes cc -std=c11 "${strict[@]}" -pedantic "$hello_c" $(pkg-config --cflags --libs cog)
    build_and_run cxx_shared yes c++ -std=c++17 "${strict[@]}" -pedantic "$hello_cc" $(pkg-config --cflags --libs cog)
    build_and_run c_static no cc -std=c11 "${strict[@]}" -pedantic "$hello_c" $(pkg-config --cflags --libs cog-static)
    build_and_run cxx_static no c++ -std=c++17 "${strict[@]}" -pedantic "$hello_cc" $(pkg-config --cflags --libs cog-static)
    build_and_run c_full_static static cc -static -std=c11 "${strict[@]}" "$hello_c" $(pkg-config --static --cflags --libs cog)
}
# dlopen: libcog.so uses initial-exec TLS (the inline fast paths' thread
# ids), which must still fit glibc's static-TLS reserve when loaded late.
cat >"$work/dlopen.c" <<'C'
#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char **argv) {
    (void)argc;
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!h) { printf("dlopen: %s\n", dlerror()); return 1; }
    int (*init)(void) = (int (*)(void))dlsym(h, "cog_init");
    long (*collect)(int) = (long (*)(int))dlsym(h, "cog_gc_collect");
    int (*shutdown)(void) = (int (*)(void))dlsym(h, "cog_shutdown");
    if (!init || !collect || !shutdown) { printf("dlsym: %s\n", dlerror()); return 1; }
    int a = init();
    long b = collect(-1);
    int c = shutdown();
    printf("init %d collect %ld shutdown %d\n", a, b, c);
    return a || b < 0 || c;
}
C
cc -std=c11 -Wall -Wextra -Werror "$work/dlopen.c" -o "$work/dlopen" -ldl || fail "dlopen: build failed"
out=$("$work/dlopen" "$prefix/lib/$soname") || fail "dlopen: $out"
echo "dlopen: ok ($out)"

echo "install_test: all builds linked and ran"
