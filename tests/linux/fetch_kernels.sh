#!/usr/bin/env bash
# Fetches Debian 12's Linux 6.1 kernels with `apt-get download` into a cache outside the tree
# (default ~/.cache/vmmd/kernels, or $VMMD_KERNEL_CACHE), and prepares what the Linux boot
# tests use:
#   vmlinuz-generic  the generic bzImage (XZ payload, CONFIG_X86_MPPARSE=y)
#   vmlinux          the ELF kernel extracted from it (64-bit entry and PVH note)
#   vmlinuz-cloud    the cloud bzImage (LZ4 payload)
#   initramfs.cpio   busybox-static with an /init that prints a marker and reboots
#   VERSION          the ABI these came from
# Idempotent: a complete cache is reused. Prints the cache directory on stdout.
set -euo pipefail

cache=${VMMD_KERNEL_CACHE:-$HOME/.cache/vmmd/kernels}
mkdir -p "$cache"
cd "$cache"
log() { echo "fetch_kernels: $*" >&2; }

if [[ -s VERSION && -s vmlinux && -s vmlinuz-generic && -s vmlinuz-cloud && -s initramfs.cpio ]]; then
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

# vmlinux: the XZ stream inside the generic bzImage (what scripts/extract-vmlinux does).
python3 - vmlinuz-generic payload.xz <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
start = data.find(b"\xfd7zXZ\x00")
if start < 0:
    sys.exit("no XZ payload in the generic bzImage")
open(sys.argv[2], "wb").write(data[start:])
PY
# --single-stream: the payload is followed by the decompressor's trailer, not more XZ.
xz -dc --single-stream payload.xz > vmlinux.tmp
rm -f payload.xz
[[ "$(head -c 4 vmlinux.tmp | od -An -tx1 | tr -d ' ')" == "7f454c46" ]] || { log "extracted payload is not ELF"; exit 1; }
mv vmlinux.tmp vmlinux

# The initramfs: busybox and an /init that proves it ran, then reboots (i8042 with reboot=k).
rm -rf initramfs && mkdir -p initramfs/bin initramfs/proc initramfs/sys initramfs/dev
cp /bin/busybox initramfs/bin/busybox
cat > initramfs/init <<'INIT'
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox echo "VMMD-INIT-REACHED: $(/bin/busybox uname -r) cpus=$(/bin/busybox nproc)"
/bin/busybox reboot -f
INIT
chmod +x initramfs/init
(cd initramfs && find . | cpio -o -H newc --quiet) > initramfs.cpio

rm -rf download extract-amd64 extract-cloud-amd64 initramfs
echo "$abi" > VERSION
log "kernels for $abi ready in $cache"
echo "$cache"
