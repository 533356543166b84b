"""Builds a freestanding 64-bit test guest from C and assembly into a flat image."""

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

def guest_image(name, srcs, hdrs = []):
    """`name`.bin: flat image loaded and entered at 0x100000; `name`.elf beside it."""
    native.genrule(
        name = name,
        srcs = srcs + hdrs + ["//tests/guest:guest.ld"],
        outs = [name + ".bin", name + ".elf"],
        cmd = " ".join([
            "gcc",
            GUEST_CFLAGS,
            "-I.",
            "-Wl,-T,$(location //tests/guest:guest.ld)",
            "-o $(location %s.elf)" % name,
        ] + ["$(location %s)" % src for src in srcs] + [
            "&& objcopy -O binary $(location %s.elf) $(location %s.bin)" % (name, name),
        ]),
    )
