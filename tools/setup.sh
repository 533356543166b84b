#!/usr/bin/env bash
# Installs the Debian 12 packages vmmd needs to build, test and run. Idempotent: quiet and
# quick when everything is already there. Needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(
  # build
  bazel-bootstrap g++ gcc binutils pkg-config python3 linux-libc-dev
  # sanitizer builds and fuzzing (tools/bazel-clang, tools/fuzz): clang-14, its runtimes
  # (ASan, UBSan, TSan, libFuzzer) and <fuzzer/FuzzedDataProvider.h>
  clang-14 libclang-rt-14-dev
  # libraries (linked from the system; see third_party/system/BUILD)
  libabsl-dev libgtest-dev libgmock-dev libbenchmark-dev libgoogle-glog-dev
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc libsystemd-dev
  libseccomp-dev libmicrohttpd-dev
  # tests: systemd-analyze verifies deploy/vmmd.service; the Linux boot tests unpack
  # Debian's kernels and build a busybox initramfs; tools/kvm-vm's test VM orders its kernel
  # modules with depmod (kmod)
  systemd xz-utils busybox-static cpio kmod
  # tests: the Linux drive test makes and reads ext4 images without root (mkfs.ext4 -d,
  # debugfs, e2fsck), and builds its helper module against Debian's kernel headers (make,
  # and libelf1 for the headers' prebuilt tools)
  e2fsprogs make libelf1
  # tests: the Linux network test puts its taps in a network namespace (ip netns, iproute2)
  iproute2
  # tests: //tests/daemon:tls_test makes its CA and certificates with the openssl CLI
  openssl
  # tests: //boot/acpi:tables_iasl_test reads the ACPI tables back with acpica's iasl
  acpica-tools
  # tests: the metrics endpoint is scraped with curl (and checked with promtool, below)
  curl
  # tests: //tests/deploy:kubernetes_manifest_test reads the Kubernetes manifests
  python3-yaml
  # benchmarks (tools/bench): QEMU microvm as the peer, callgrind, and the plot (Debian's
  # python3 with matplotlib: /usr/bin/python3)
  qemu-system-x86 valgrind python3-matplotlib
)

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$package")
done

sudo=()
[[ $(id -u) -eq 0 ]] || sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "setup: installing ${missing[*]}" >&2
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "setup: done" >&2
fi

# tests: promtool, Prometheus's own checker of a metrics page, from Debian's prometheus
# package unpacked into a cache: installing the package would also start a Prometheus server
# on this host. Tests find it at ~/.cache/vmmd/promtool/promtool.
promtool_dir="$HOME/.cache/vmmd/promtool"
if [[ ! -x $promtool_dir/promtool ]]; then
  echo "setup: fetching promtool (Debian's prometheus package, unpacked)" >&2
  unpack=$(mktemp -d)
  trap 'rm -rf "$unpack"' EXIT
  (cd "$unpack" && apt-get download -qq prometheus >/dev/null 2>&1) ||
    { "${sudo[@]}" apt-get update -qq && (cd "$unpack" && apt-get download -qq prometheus >/dev/null); }
  dpkg-deb -x "$unpack"/prometheus_*.deb "$unpack/root"
  mkdir -p "$promtool_dir"
  install -m 0755 "$unpack/root/usr/bin/promtool" "$promtool_dir/promtool"
fi
