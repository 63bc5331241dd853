#!/usr/bin/env bash
# Install cog for embedding outside Bazel:
#   PREFIX/include/cog/*.h
#   PREFIX/lib/libcog.a, libcog.so.X.Y.Z (+ libcog.so.X, libcog.so links)
#   PREFIX/lib/pkgconfig/cog.pc, cog-static.pc
#
# usage: tools/install.sh [--dist FILE.tar] PREFIX [BAZEL-BUILD-ARGS...]
#   Builds //packaging:cog_dist (with BAZEL-BUILD-ARGS, e.g. --config=opt
#   --jobs=2) and extracts it under $DESTDIR$PREFIX; the .pc files name
#   PREFIX. --dist installs an already built tarball without running Bazel
#   (what packaging:install_test does). COG_BAZEL_STARTUP holds Bazel
#   startup options, as for tools/test.sh.
# Then: PKG_CONFIG_PATH=PREFIX/lib/pkgconfig cc app.c $(pkg-config --cflags --libs cog)
set -euo pipefail

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
}

dist=
if [[ ${1:-} == --dist ]]; then
    (($# >= 2)) || usage
    dist=$2
    shift 2
fi
(($# >= 1)) || usage
[[ $1 != -* ]] || usage
prefix=$1
shift
# The .pc files need an absolute, normalised prefix that sed and
# pkg-config can carry as is.
prefix=$(realpath -m -- "$prefix")
if [[ $prefix =~ [[:space:]\|\&\\] ]]; then
    echo "install.sh: unsupported character in prefix '$prefix'" >&2
    exit 2
fi

if [[ -z $dist ]]; then
    ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    cd "$ROOT"
    # shellcheck source=tools/needs_setup.sh
    source "$ROOT/tools/needs_setup.sh"
    cog_ensure_setup "$ROOT"
    read -r -a STARTUP <<<"${COG_BAZEL_STARTUP:-}"
    bazel "${STARTUP[@]}" build "$@" //packaging:cog_dist
    dist="$(bazel "${STARTUP[@]}" info "$@" bazel-bin)/packaging/cog-dist.tar"
elif (($#)); then
    echo "install.sh: Bazel arguments given with --dist: $*" >&2
    exit 2
fi
[[ -f $dist ]] || { echo "install.sh: no such tarball: $dist" >&2; exit 1; }

dest="${DESTDIR:-}$prefix"
mkdir -p "$dest"
# Replace what a previous install left (the library links in particular).
tar -tf "$dist" | grep -v '/$' | while read -r f; do rm -f "$dest/$f"; done
# -m: files get the install time; --no-overwrite-dir: leave existing
# directories (PREFIX/lib of a real prefix) as they are.
tar -C "$dest" -xmf "$dist" --no-same-owner --no-overwrite-dir
for pc in "$dest"/lib/pkgconfig/cog*.pc; do
    sed -i "s|@PREFIX@|$prefix|g" "$pc"
done
version=$(sed -n 's/^Version: //p' "$dest/lib/pkgconfig/cog.pc")
echo "install.sh: cog $version installed in $dest"
