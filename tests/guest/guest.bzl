"""Builds freestanding 64-bit test guests from C and assembly: a flat image, or an ELF."""

# No SSE (the boot state leaves CR4.OSFXSR clear), no red zone, no stack protector or CET
# instructions, nothing from libc; the host's gcc and objcopy, as Debian ships them.
GUEST_CFLAGS = " ".join([
    "-O2",
    "-ffreestanding",
    "-fno-builtin",
    "-fno-pic",
    "-fno-pie",
    "-no-pie",
    "-mno-red-zone",
    "-mgeneral-regs-only",
    "-fno-stack-protector",
    "-fcf-protection=none",
    "-fno-asynchronous-unwind-tables",
    "-nostdlib",
    "-static",
    "-Wl,--build-id=none",
    "-Wall",
    "-Werror",
])

def _link_cmd(elf, srcs):
    """The gcc command line that compiles `srcs` and links them at 0x100000 into `elf`."""
    return " ".join([
        "gcc",
        GUEST_CFLAGS,
        "-I.",
        "-Wl,-T,$(location //tests/guest:guest.ld)",
        "-o $(location %s)" % elf,
    ] + ["$(location %s)" % src for src in srcs])

def guest_image(name, srcs, hdrs = []):
    """`name`.bin: flat image loaded and entered at 0x100000; `name`.elf beside it."""
    native.genrule(
        name = name,
        srcs = srcs + hdrs + ["//tests/guest:guest.ld"],
        outs = [name + ".bin", name + ".elf"],
        cmd = " ".join([
            _link_cmd(name + ".elf", srcs),
            "&& objcopy -O binary $(location %s.elf) $(location %s.bin)" % (name, name),
        ]),
    )

def guest_elf(name, srcs, hdrs = []):
    """`name`.elf, the genrule's only output: a static ELF64 linked at 0x100000 and entered
    at e_entry, for loaders that place PT_LOAD segments at their physical addresses."""
    native.genrule(
        name = name,
        srcs = srcs + hdrs + ["//tests/guest:guest.ld"],
        outs = [name + ".elf"],
        cmd = _link_cmd(name + ".elf", srcs),
    )
