"""libFuzzer targets that also build and run with gcc, where libFuzzer does not exist.

Bazel 4.2.3 has no rules_fuzzing, so each fuzzer is three targets:
  NAME_lib   the LLVMFuzzerTestOneInput function (alwayslink: nothing else references it);
  NAME_test  a cc_test that replays the seed corpus through it (tests/fuzz/replay_main.cc),
             so every seed is a regression test of the normal suite, with gcc or clang;
  NAME       the fuzzer: with --config=fuzz (--define=fuzz=libfuzzer) linked with
             -fsanitize=fuzzer, whose main() drives the function; in any other build it is
             the same replay binary as NAME_test (run it with files or directories).
tools/fuzz builds every NAME with tools/bazel-clang --config=fuzz and runs it on a copy of
its corpus.
"""

def vmmd_fuzzer(name, srcs, deps, corpus, size = "small"):
    """The three targets above. `corpus` is a seed_corpus() target."""
    native.cc_library(
        name = name + "_lib",
        testonly = True,
        srcs = srcs,
        deps = deps,
        alwayslink = True,
    )
    native.cc_test(
        name = name + "_test",
        size = size,
        args = ["$(locations %s)" % corpus],
        data = [corpus],
        deps = [
            ":" + name + "_lib",
            "//tests/fuzz:replay_main",
        ],
    )
    native.cc_binary(
        name = name,
        testonly = True,
        linkopts = select({
            "//tests/fuzz:libfuzzer": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
        deps = [":" + name + "_lib"] + select({
            "//tests/fuzz:libfuzzer": [],
            "//conditions:default": ["//tests/fuzz:replay_main"],
        }),
    )

def seed_corpus(name, fuzzer, generator = None, kind = None, seeds = [], srcs = [], copies = {}):
    """A fuzzer's seed corpus, generated at build time into corpus/FUZZER/.

    Args:
      name: the target.
      fuzzer: the fuzzer's name; the seeds land in corpus/FUZZER/ beside this BUILD file,
        where tools/fuzz finds them.
      generator: a host tool run as `GENERATOR KIND OUT_DIR SEED...`; it must write exactly
        OUT_DIR/SEED for every SEED.
      kind: the generator's first argument.
      seeds: names of the seeds the generator writes.
      srcs: files the generator reads.
      copies: {label: seed name}: files built elsewhere (test guests), copied in.
    """
    out_dir = "$(RULEDIR)/corpus/" + fuzzer
    commands = ["mkdir -p " + out_dir]
    if seeds:
        commands.append("$(location %s) %s %s %s" % (generator, kind, out_dir, " ".join(seeds)))
    for label, seed in copies.items():
        commands.append("cp $(location %s) %s/%s" % (label, out_dir, seed))
    native.genrule(
        name = name,
        testonly = True,
        srcs = srcs + copies.keys(),
        outs = ["corpus/%s/%s" % (fuzzer, seed) for seed in seeds + copies.values()],
        tools = [generator] if generator else [],
        cmd = " && ".join(commands),
    )
