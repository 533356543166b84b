#!/usr/bin/env bash
# For a host with hardware KVM (not these nested machines, whose KVM cannot run Linux that
# far: shared/design/environment.md): boots Debian's generic kernel with the busybox
# initramfs through vmmd all the way to /init, which prints "VMMD-INIT-REACHED" and reboots
# through the i8042. Needs: Debian 12, root (or sudo) for tools/setup.sh and apt-get
# download, /dev/kvm. Usage: tests/linux/boot_to_init.sh [vcpus] [memory_mib]
set -euo pipefail
cd "$(dirname "$0")/../.."
vcpus=${1:-2}
memory_mib=${2:-512}

tools/setup.sh
cache=$(tests/linux/fetch_kernels.sh)
bazel build //daemon:vmmd //tools/vmmctl:vmmctl >/dev/null 2>&1 || bazel build //daemon:vmmd //tools/vmmctl:vmmctl

work=$(mktemp -d /tmp/vmmd-boot-to-init.XXXXXX)
daemon_pid=
cleanup() {
  [[ -n "$daemon_pid" ]] && kill -TERM "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
bazel-bin/daemon/vmmd --listen "unix:$work/vmmd.sock" --image_root "$cache" 2>"$work/vmmd.log" &
daemon_pid=$!
for _ in $(seq 100); do [[ -S "$work/vmmd.sock" ]] && break; sleep 0.1; done

timeout 300 bazel-bin/tools/vmmctl/vmmctl --address "unix:$work/vmmd.sock" --timeout_s 0 run \
  --kernel "$cache/vmlinux" --initrd "$cache/initramfs.cpio" --vcpus "$vcpus" --memory-mib "$memory_mib" \
  --cmdline "console=ttyS0 reboot=k panic=-1 rdinit=/init" | tee "$work/console.txt" || true

if grep -q "VMMD-INIT-REACHED" "$work/console.txt"; then
  echo "boot_to_init: PASS: the kernel ran /init from the initramfs and rebooted"
else
  echo "boot_to_init: FAIL: /init did not report (see the console above)" >&2
  exit 1
fi
