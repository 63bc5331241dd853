"""cog_library: the installable libraries (libcog.a, libcog.so) of a cc_library.

`bazel build //:cog` builds both; other targets depend on `//:cog` exactly
as on a cc_library (the rule forwards the runtime's CcInfo), so depending on
it costs nothing extra: the two libraries are only built when asked for.

Both libraries come from ONE relocatable object: every PIC object of the
in-repository libraries (lib/ and collector/) is combined with `ld -r
--whole-archive`, then every global symbol not named cog_* is made local
--whole-archive`, then every global symbol that the public headers do not
declare is made local (objcopy). So
  * the collector, which registers itself from a constructor and nothing
    references, is always linked (a static archive member that nobody
    references would otherwise be dropped silently);
  * libcog.a and libcog.so export the same symbols, exactly the public
    API: the functions and variables declared in include/cog/*.h, which
    include the cog__ internals that the inline fast paths of cog/object.h
    call or read. The runtime's internal functions (cog_heap_alloc,
    cog_rcu_call, ...) cannot clash with the embedding program's names.
The list is found by the compiler, not by parsing: build_libs.sh compiles a
probe that takes the address of every cog_ symbol the objects define, with
every public header included; the undeclared ones are internal.
libcog.so additionally carries a soname and a version script listing the
exported symbols under the version node COG_<MAJOR>.
"""

load("@bazel_tools//tools/cpp:toolchain_utils.bzl", "find_cpp_toolchain")

def _cog_library_impl(ctx):
    cc_info = ctx.attr.runtime[CcInfo]
    archives = []
    link_flags = []
    for linker_input in cc_info.linking_context.linker_inputs.to_list():
        link_flags.extend(linker_input.user_link_flags)
        for lib in linker_input.libraries:
            archive = lib.pic_static_library or lib.static_library
            if archive == None:
                fail("%s: %s has no static library to package" % (ctx.label, linker_input.owner))
            archives.append(archive)
    if not archives:
        fail("%s: %s links no library" % (ctx.label, ctx.attr.runtime.label))

    cc_toolchain = find_cpp_toolchain(ctx)
    static = ctx.outputs.static
    shared = ctx.outputs.shared
    soname = "lib%s.so.%s" % (ctx.attr.name, ctx.attr.version.split(".")[0])

    args = ctx.actions.args()
    args.add(ctx.file._script)
    args.add_all([
        cc_toolchain.compiler_executable,
        cc_toolchain.ld_executable,
        cc_toolchain.objcopy_executable,
        cc_toolchain.ar_executable,
        soname,
        "COG_" + ctx.attr.version.split(".")[0],
        static,
        shared,
    ])
    args.add_all(archives)
    args.add("--")
    args.add_all(ctx.files.hdrs)
    args.add("--")

    # The configuration's --linkopt (e.g. -fsanitize=address under asan),
    # then the runtime's own link flags (liburcu, -pthread).
    args.add_all(ctx.fragments.cpp.linkopts)
    args.add_all(link_flags)

    ctx.actions.run_shell(
        command = 'exec bash "$@"',
        arguments = [args],
        inputs = depset(
            [ctx.file._script] + ctx.files.hdrs + archives,
            transitive = [cc_toolchain.all_files],
        ),
        outputs = [static, shared],
        mnemonic = "CogLibrary",
        use_default_shell_env = True,
        progress_message = "Packaging %s and %s" % (static.short_path, shared.short_path),
    )
    return [
        DefaultInfo(files = depset([static, shared])),
        cc_info,
    ]

cog_library = rule(
    implementation = _cog_library_impl,
    attrs = {
        "runtime": attr.label(
            mandatory = True,
            providers = [CcInfo],
            doc = "cc_library whose in-repository objects are packaged",
        ),
        "version": attr.string(mandatory = True, doc = "MAJOR.MINOR.PATCH; soname lib<name>.so.MAJOR"),
        "hdrs": attr.label_list(
            allow_files = [".h"],
            mandatory = True,
            doc = "the public headers, <include dir>/<name>/*.h: what they declare is exported",
        ),
        "_script": attr.label(
            allow_single_file = True,
            default = Label("//packaging:build_libs.sh"),
        ),
        "_cc_toolchain": attr.label(default = Label("@bazel_tools//tools/cpp:current_cc_toolchain")),
    },
    outputs = {
        "static": "lib%{name}.a",
        "shared": "lib%{name}.so",
    },
    fragments = ["cpp"],
    toolchains = ["@bazel_tools//tools/cpp:toolchain_type"],
)
