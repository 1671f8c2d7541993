"""What hakmem's BUILD files refer to, for any workspace that builds hakmem.

In a consumer's WORKSPACE (and in hakmem's own):

    local_repository(name = "hakmem", path = "...")   # or http_archive
    load("@hakmem//:repositories.bzl", "hakmem_repositories")
    hakmem_repositories()

Declares, each only if the workspace has not declared it already:
  - hakmem_system: Debian's -dev packages under /usr (GoogleTest, Google
    Benchmark, Abseil headers and flags, gperftools), wrapped as cc_library
    targets by third_party/system/BUILD.system (tools/setup.sh installs them).
    The allocator itself needs only the Abseil headers.
  - rules_cc, rules_java, remote_coverage_tools: Bazel 4.2.3's @bazel_tools
    downloads these by default, which fails offline; these stand-ins re-export
    the native rules (shared/BAZEL_OFFLINE.md). A workspace that has the real
    ones declares them first and keeps them.
"""

_STAND_INS = {
    "rules_cc": {
        "BUILD": "",
        "cc/BUILD": 'exports_files(["defs.bzl"])\n',
        "cc/defs.bzl": "\n".join([
            "# Offline stand-in for rules_cc: the native rules re-exported.",
            "cc_binary = native.cc_binary",
            "cc_import = native.cc_import",
            "cc_library = native.cc_library",
            "cc_test = native.cc_test",
            "cc_toolchain = native.cc_toolchain",
            "cc_toolchain_suite = native.cc_toolchain_suite",
            "",
        ]),
    },
    "rules_java": {
        "BUILD": "",
        "java/BUILD": 'exports_files(["defs.bzl"])\n',
        "java/defs.bzl": "\n".join([
            "# Offline stand-in for rules_java: the native rules re-exported.",
            "java_binary = native.java_binary",
            "java_import = native.java_import",
            "java_library = native.java_library",
            "java_runtime = native.java_runtime",
            "java_toolchain = native.java_toolchain",
            "java_test = native.java_test",
            "",
        ]),
    },
    "remote_coverage_tools": {
        "BUILD": "\n".join([
            "# Offline stand-in: coverage is not used, but @bazel_tools asks for these.",
            'filegroup(name = "coverage_report_generator", visibility = ["//visibility:public"])',
            'filegroup(name = "lcov_merger", visibility = ["//visibility:public"])',
            "",
        ]),
    },
}

def _stand_in_impl(ctx):
    ctx.file("WORKSPACE", 'workspace(name = "%s")\n' % ctx.name)
    for path, content in _STAND_INS[ctx.name].items():
        ctx.file(path, content)

_stand_in = repository_rule(implementation = _stand_in_impl)

def hakmem_repositories():
    """Declares the repositories hakmem's BUILD files need (see the file comment)."""
    for name in _STAND_INS:
        if not native.existing_rule(name):
            _stand_in(name = name)
    if not native.existing_rule("hakmem_system"):
        native.new_local_repository(
            name = "hakmem_system",
            path = "/usr",
            build_file = str(Label("//third_party/system:BUILD.system")),
        )
