#!/usr/bin/env bash
# Fetches Debian 12's Linux 6.1 kernels with `apt-get download` into a cache outside the tree
# (default ~/.cache/vmmd/kernels, or $VMMD_KERNEL_CACHE), and prepares what the Linux boot
# tests use:
#   vmlinuz-generic  the generic bzImage (XZ payload, CONFIG_X86_MPPARSE=y)
#   vmlinux          the ELF kernel extracted from it (64-bit entry and PVH note)
#   vmlinuz-cloud    the cloud bzImage (LZ4 payload)
#   VERSION          the ABI these came from
# Idempotent: a complete cache is reused. Prints the cache directory on stdout.
set -euo pipefail

tools=$(cd "$(dirname "$0")/../../tools" && pwd)
cache=${VMMD_KERNEL_CACHE:-$HOME/.cache/vmmd/kernels}
mkdir -p "$cache"
cd "$cache"
log() { echo "fetch_kernels: $*" >&2; }

if [[ -s VERSION && -s vmlinux && -s vmlinuz-generic && -s vmlinuz-cloud ]]; then
  echo "$cache"
  exit 0
fi

# The newest 6.1 ABI Debian offers in both flavours.
abi_of() { apt-cache search --names-only "^linux-image-6\.1\.0-[0-9]+-$1\$" | sed -E "s/^linux-image-(6\.1\.0-[0-9]+)-$1 .*/\1/" | sort -V; }
abi=$(comm -12 <(abi_of amd64 | sort) <(abi_of cloud-amd64 | sort) | sort -V | tail -1)
if [[ -z "$abi" ]]; then
  log "apt knows no linux-image-6.1.0-*-amd64; updating the package lists"
  apt-get update -qq >&2
  abi=$(comm -12 <(abi_of amd64 | sort) <(abi_of cloud-amd64 | sort) | sort -V | tail -1)
fi
[[ -n "$abi" ]] || { log "no Debian 6.1 kernel package found"; exit 1; }

log "downloading linux-image-$abi-amd64 and linux-image-$abi-cloud-amd64"
rm -rf download && mkdir download
(cd download && apt-get download -q "linux-image-$abi-amd64" "linux-image-$abi-cloud-amd64" >&2 2>/dev/null \
  || apt-get download "linux-image-$abi-amd64" "linux-image-$abi-cloud-amd64" >&2)
for flavour in amd64 cloud-amd64; do
  rm -rf "extract-$flavour" && mkdir "extract-$flavour"
  dpkg-deb -x download/linux-image-"$abi"-"$flavour"_*.deb "extract-$flavour"
done
cp "extract-amd64/boot/vmlinuz-$abi-amd64" vmlinuz-generic
cp "extract-cloud-amd64/boot/vmlinuz-$abi-cloud-amd64" vmlinuz-cloud

"$tools/kvm_vm/extract-vmlinux" vmlinuz-generic vmlinux

rm -rf download extract-amd64 extract-cloud-amd64
echo "$abi" > VERSION
log "kernels for $abi ready in $cache"
echo "$cache"
