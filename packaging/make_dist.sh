#!/usr/bin/env bash
# Action of //packaging:cog_dist: the install tree as a tarball, extracted
# under PREFIX by tools/install.sh (which substitutes @PREFIX@ in the .pc
# files):
#   include/cog/*.h
#   lib/libcog.a
#   lib/libcog.so.VERSION, libcog.so.MAJOR -> it, libcog.so -> libcog.so.MAJOR
#   lib/pkgconfig/cog.pc, cog-static.pc
# make_dist.sh OUT.tar VERSION LIBCOG.a LIBCOG.so COG.pc.in COG-STATIC.pc.in HEADER...
set -euo pipefail
out=$1 version=$2 static=$3 shared=$4 pc_in=$5 pc_static_in=$6
shift 6
major=${version%%.*}

stage=$(mktemp -d "${TMPDIR:-/tmp}/cog-dist.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/include/cog" "$stage/lib/pkgconfig"
install -m 0644 "$@" "$stage/include/cog/"
install -m 0644 "$static" "$stage/lib/libcog.a"
install -m 0755 "$shared" "$stage/lib/libcog.so.$version"
ln -s "libcog.so.$version" "$stage/lib/libcog.so.$major"
ln -s "libcog.so.$major" "$stage/lib/libcog.so"
sed "s/@VERSION@/$version/" "$pc_in" >"$stage/lib/pkgconfig/cog.pc"
sed "s/@VERSION@/$version/" "$pc_static_in" >"$stage/lib/pkgconfig/cog-static.pc"
chmod 0644 "$stage"/lib/pkgconfig/*.pc
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
    -C "$stage" -cf "$out" include lib
