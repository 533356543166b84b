#!/usr/bin/env bash
# Installs the Debian 12 packages vmmd needs to build, test and run. Idempotent: quiet and
# quick when everything is already there. Needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(
  # build
  bazel-bootstrap g++ gcc binutils pkg-config python3 linux-libc-dev
  # libraries (linked from the system; see third_party/system/BUILD)
  libabsl-dev libgtest-dev libgmock-dev libbenchmark-dev libgoogle-glog-dev
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc libsystemd-dev
  # tests: systemd-analyze verifies deploy/vmmd.service; the Linux boot tests unpack
  # Debian's kernels and build a busybox initramfs
  systemd xz-utils busybox-static cpio
)

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$package")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "setup: installing ${missing[*]}" >&2
sudo=()
[[ $(id -u) -eq 0 ]] || sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done" >&2
