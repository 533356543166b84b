"""kvm_cc_test: a GoogleTest binary that needs /dev/kvm, run through tools/kvm-vm.

Where the host has a usable /dev/kvm the test binary runs there as usual; where it has none,
kvm-vm runs it inside its test VM, which has a KVM of its own. Either way the test runs on a
real KVM: it never passes by skipping. The target is tagged "requires-kvm".
"""

# Attributes that belong to the test, not to the binary it wraps.
_TEST_ATTRIBUTES = ["size", "timeout", "flaky", "shard_count", "local", "args", "env"]

def kvm_cc_test(name, tags = [], visibility = None, **kwargs):
    test_attributes = {key: kwargs.pop(key) for key in _TEST_ATTRIBUTES if key in kwargs}
    binary = name + "_binary"
    native.cc_binary(
        name = binary,
        testonly = True,
        tags = ["manual"],
        visibility = ["//visibility:private"],
        **kwargs
    )
    args = test_attributes.pop("args", [])
    native.sh_test(
        name = name,
        srcs = ["//tools/kvm_vm:kvm-vm"],
        args = ["$(rootpath :%s)" % binary] + args,
        data = [
            ":" + binary,
            "//tools/kvm_vm:init",
        ],
        tags = tags + ["requires-kvm"],
        visibility = visibility,
        **test_attributes
    )
