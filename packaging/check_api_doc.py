#!/usr/bin/env python3
"""Check docs/api.md against the built library and the public headers.

usage: check_api_doc.py LIBCOG.so API.md HEADER...   (headers: DIR/cog/x.h)

The public API is what libcog.so exports minus the cog__ internals (the
library exports exactly what the headers declare, see
packaging/defs.bzl). Errors, all reported, exit status 1:
  * an exported public symbol is not documented in API.md;
  * a documented name is not exported;
  * a function declared in a public header is not exported (its callers
    would not link);
  * an exported public symbol is declared in no public header;
  * an entry is under a heading other than its declaring header, outside
    any heading, listed twice, or has no description.
Entries are list lines  - `cog_name` — description  under a heading
## `cog/header.h`. Functions are found with gcc -aux-info (the compiler
parses the headers), variables from their `extern ... cog_x;` declarations.
Generic: nothing here names a particular function or header.
"""
import os
import re
import subprocess
import sys
import tempfile

ENTRY = re.compile(r"^\s*[-*]\s+`(cog_\w+)`\s*(?:—|–|-|:)\s*(\S.*)$")
ENTRY_START = re.compile(r"^\s*[-*]\s+`(cog_\w+)")
SECTION = re.compile(r"^##\s+`?(cog/[\w.]+\.h)`?\s*$")
OTHER_SECTION = re.compile(r"^#{1,2}\s")
AUX_LINE = re.compile(r"^/\* (.+?):\d+:\w+ \*/ (.*)$")
AUX_NAME = re.compile(r"\b(cog_\w+) \(")
EXTERN_VAR = re.compile(
    r"^\s*extern\s+[^;(){}]*?\b(cog_\w+)\s*(?:__attribute__\s*\(\(.*?\)\)\s*)?;", re.M)


def public(name):
    return name.startswith("cog_") and not name.startswith("cog__")


def header_key(path):
    """DIR/cog/x.h -> cog/x.h"""
    parts = os.path.normpath(path).split(os.sep)
    return "/".join(parts[-2:])


def exported_symbols(lib):
    out = subprocess.run(["nm", "-D", "--defined-only", lib], check=True,
                         capture_output=True, text=True).stdout
    names = set()
    for line in out.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[1] != "A":
            names.add(fields[2].split("@")[0])
    return names


def declared_symbols(headers):
    """name -> header key, for functions (gcc -aux-info) and variables."""
    include_dir = os.path.dirname(os.path.dirname(headers[0]))
    decls = {}
    with tempfile.TemporaryDirectory() as tmp:
        tu = os.path.join(tmp, "all_headers.c")
        aux = os.path.join(tmp, "aux.txt")
        with open(tu, "w") as f:
            for h in headers:
                f.write('#include "%s"\n' % header_key(h))
        subprocess.run(["gcc", "-std=c11", "-D_GNU_SOURCE", "-I", include_dir,
                        "-aux-info", aux, "-c", tu, "-o", os.path.join(tmp, "tu.o")],
                       check=True)
        with open(aux) as f:
            for line in f:
                m = AUX_LINE.match(line)
                if not m or header_key(m.group(1)) not in {header_key(h) for h in headers}:
                    continue
                n = AUX_NAME.search(m.group(2))
                if n:
                    decls.setdefault(n.group(1), header_key(m.group(1)))
    functions = set(decls)
    for h in headers:
        with open(h) as f:
            for name in EXTERN_VAR.findall(f.read()):
                decls.setdefault(name, header_key(h))
    return decls, functions


def parse_doc(path, errors):
    entries = {}
    section = None
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            m = SECTION.match(line)
            if m:
                section = m.group(1)
                continue
            if OTHER_SECTION.match(line):
                section = None
                continue
            start = ENTRY_START.match(line)
            if not start:
                continue
            name = start.group(1)
            where = "%s:%d" % (path, lineno)
            m = ENTRY.match(line)
            if not m:
                errors.append("%s: entry for %s has no description "
                              "(format: - `%s` — what it does)" % (where, name, name))
                continue
            if name in entries:
                errors.append("%s: %s listed twice (first at line %d)"
                              % (where, name, entries[name][1]))
                continue
            if section is None:
                errors.append("%s: %s is not under a ## `cog/<header>.h` heading" % (where, name))
            entries[name] = (section, lineno)
    return entries


def main(argv):
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    lib, doc, headers = argv[1], argv[2], argv[3:]
    errors = []
    exported = {n for n in exported_symbols(lib) if public(n)}
    declared, functions = declared_symbols(headers)
    declared = {n: h for n, h in declared.items() if public(n)}
    documented = parse_doc(doc, errors)
    header_keys = {header_key(h) for h in headers}

    for name in sorted(exported - set(documented)):
        errors.append("%s: %s is exported by %s but not documented (declared in %s)"
                      % (doc, name, os.path.basename(lib), declared.get(name, "no header")))
    for name in sorted(set(documented) - exported):
        errors.append("%s:%d: %s is documented but %s does not export it"
                      % (doc, documented[name][1], name, os.path.basename(lib)))
    for name in sorted(n for n in functions if public(n) and n not in exported):
        errors.append("%s: %s is declared but %s does not export it: callers cannot link"
                      % (declared[name], name, os.path.basename(lib)))
    for name in sorted(exported - set(declared)):
        errors.append("%s: %s is exported but no public header declares it"
                      % (os.path.basename(lib), name))
    for name, (section, lineno) in sorted(documented.items()):
        if section is not None and section not in header_keys:
            errors.append("%s:%d: heading %s names no public header" % (doc, lineno, section))
        elif section is not None and name in declared and declared[name] != section:
            errors.append("%s:%d: %s is under %s but declared in %s"
                          % (doc, lineno, name, section, declared[name]))

    if errors:
        for e in errors:
            print("api.md check: " + e)
        print("api.md check: %d error(s)" % len(errors))
        return 1
    print("api.md check: %d public symbols (%d functions), all documented under their "
          "header; every declared function is exported"
          % (len(exported), len([n for n in functions if public(n)])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
