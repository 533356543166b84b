#!/usr/bin/env bash
# Fetches Debian 12's Linux 6.1 kernels with `apt-get download` into a cache outside the tree
# (default ~/.cache/vmmd/kernels, or $VMMD_KERNEL_CACHE), and prepares what the Linux boot
# tests use:
#   vmlinuz-generic  the generic bzImage (XZ payload, CONFIG_X86_MPPARSE=y)
#   vmlinux          the ELF kernel extracted from it (64-bit entry and PVH note)
#   vmlinuz-cloud    the cloud bzImage (LZ4 payload)
#   VERSION          the ABI these came from
#   modules/         for the generic kernel, what the Linux guests' inits load (Debian builds
#                    these as modules): virtio_mmio, virtio_blk, virtio-rng, ext4 with
#                    crc32c_generic (ext4's and jbd2's softdep "pre: crypto-crc32c", which
#                    modules.dep leaves out), virtio_net, vsock's virtio transport, and
#                    every dependency modules.dep names, plus
#                    virtio_mmio_cmdline.ko built here from tests/linux/virtio_mmio_cmdline.c
#                    (Debian's virtio_mmio has no CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES: see there);
#     load-order     their file names, one a line, each after what it needs
#     KEY            what they were made from (ABI, module list, the module source's hash)
# Modules are stored uncompressed: Debian 6.1 ships plain .ko files
# (CONFIG_MODULE_COMPRESS_NONE) and its kernel cannot load compressed ones (no
# CONFIG_MODULE_DECOMPRESS); a .ko.xz, .ko.zst or .ko.gz (later packages) is decompressed here.
# Idempotent: a complete cache is reused; a cache from before modules/ gets them added (one
# package download, or the whole set again if Debian no longer offers that ABI). Prints the
# cache directory on stdout.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
tools=$(cd "$here/../../tools" && pwd)
cache=${VMMD_KERNEL_CACHE:-$HOME/.cache/vmmd/kernels}
mkdir -p "$cache"
cd "$cache"
log() { echo "fetch_kernels: $*" >&2; }
die() { log "$*"; exit 1; }

guest_modules=(virtio_mmio virtio_blk virtio-rng crc32c_generic ext4 virtio_net vmw_vsock_virtio_transport)
shim_source=$here/virtio_mmio_cmdline.c
shim=virtio_mmio_cmdline

kernels_complete() { [[ -s VERSION && -s vmlinux && -s vmlinuz-generic && -s vmlinuz-cloud ]]; }
modules_key() {  # ABI
  echo "$1 ${guest_modules[*]} $shim $(sha256sum < "$shim_source" | cut -c1-16)"
}
modules_complete() {
  [[ -s modules/load-order && -s modules/KEY && $(cat modules/KEY) == "$(modules_key "$(cat VERSION)")" ]] || return 1
  local module
  while read -r module; do [[ -s modules/$module ]] || return 1; done < modules/load-order
}

if kernels_complete && modules_complete; then
  echo "$cache"
  exit 0
fi

work=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$work"' EXIT

# apt-get download PACKAGE... into $work/download (quiet; a second try shows apt's errors).
download() {
  mkdir -p "$work/download"
  (cd "$work/download" && { apt-get download -q "$@" >/dev/null 2>&1 || apt-get download "$@" >&2; })
}

# modules/ for ABI from linux-image-ABI-amd64 (in $work/download or downloaded), built in
# $work and moved into place whole.
make_modules() {
  local abi=$1 kernel=$1-amd64
  command -v depmod >/dev/null || die "no depmod (apt-get install kmod)"
  command -v make >/dev/null && command -v gcc-12 >/dev/null ||
    die "building $shim.ko needs make and gcc-12 (apt-get install make gcc-12)"
  # The kernel's headers and Kbuild, for the one module built here; Kbuild's tools (modpost,
  # objtool) are binaries of the linux-kbuild package, run from where they are unpacked.
  local packages=("linux-headers-$kernel" "linux-headers-$abi-common" "linux-kbuild-${abi%%.0-*}")
  compgen -G "$work/download/linux-image-${kernel}_*.deb" >/dev/null || packages+=("linux-image-$kernel")
  download "${packages[@]}" || die "apt-get download ${packages[*]} failed"
  rm -rf "$work/image" "$work/headers" && mkdir -p "$work/image" "$work/headers"
  dpkg-deb -x "$work"/download/linux-image-"$kernel"_*.deb "$work/image"
  for deb in "$work"/download/linux-headers-*.deb "$work"/download/linux-kbuild-*.deb; do
    dpkg-deb -x "$deb" "$work/headers"
  done

  local out=$work/modules moddir=$work/image/lib/modules/$kernel
  rm -rf "$out" && mkdir -p "$out"
  depmod -b "$work/image" "$kernel" || die "depmod failed on linux-image-$kernel"
  # Load order: modules.dep lists each module's whole closure, a module before what it needs.
  local order=() module line dep name i
  declare -A seen=()
  for module in "${guest_modules[@]}"; do
    line=$(grep -E "(^|/)$module\.ko(\.xz|\.zst|\.gz)?:" "$moddir/modules.dep") ||
      die "no module $module in linux-image-$kernel"
    local paths=(${line#*:})
    paths=("${line%%:*}" "${paths[@]}")
    for ((i = ${#paths[@]} - 1; i >= 0; i--)); do
      dep=${paths[i]}
      [[ -n ${seen[$dep]:-} ]] && continue
      seen[$dep]=1
      name=$(basename "$dep")
      case $name in
        *.ko) cp "$moddir/$dep" "$out/$name" ;;
        *.ko.xz) name=${name%.xz}; xz -dc "$moddir/$dep" > "$out/$name" ;;
        *.ko.zst) name=${name%.zst}; zstd -qdc "$moddir/$dep" > "$out/$name" ;;
        *.ko.gz) name=${name%.gz}; gzip -dc "$moddir/$dep" > "$out/$name" ;;
        *) die "unexpected module file $dep" ;;
      esac
      order+=("$name")
    done
  done

  # The headers package's Makefile includes the common one by its installed path.
  local build=$work/headers/usr/src/linux-headers-$kernel
  sed -i "s|/usr/src/|$work/headers/usr/src/|" "$build/Makefile"
  mkdir -p "$work/shim"
  cp "$shim_source" "$work/shim/$shim.c"
  echo "obj-m := $shim.o" > "$work/shim/Kbuild"
  make -s -C "$build" M="$work/shim" modules >"$work/shim.log" 2>&1 ||
    { cat "$work/shim.log" >&2; die "building $shim.ko against linux-headers-$kernel failed"; }
  strip --strip-debug -o "$out/$shim.ko" "$work/shim/$shim.ko"
  order+=("$shim.ko")

  printf '%s\n' "${order[@]}" > "$out/load-order"
  modules_key "$abi" > "$out/KEY"
  rm -rf "$cache/modules.old"
  [[ -e $cache/modules ]] && mv "$cache/modules" "$cache/modules.old"
  mv "$out" "$cache/modules"
  rm -rf "$cache/modules.old"
  log "modules for $kernel ready in $cache/modules: ${order[*]}"
}

if kernels_complete; then
  abi=$(cat VERSION)
  if apt-cache show "linux-image-$abi-amd64" "linux-headers-$abi-amd64" >/dev/null 2>&1; then
    log "adding the guest's modules for $abi to $cache"
    make_modules "$abi"
    echo "$cache"
    exit 0
  fi
  log "Debian no longer offers linux-image-$abi-amd64 and its headers; fetching the newest kernels"
fi

# The newest 6.1 ABI Debian offers in both flavours.
abi_of() { apt-cache search --names-only "^linux-image-6\.1\.0-[0-9]+-$1\$" | sed -E "s/^linux-image-(6\.1\.0-[0-9]+)-$1 .*/\1/" | sort -V; }
abi=$(comm -12 <(abi_of amd64 | sort) <(abi_of cloud-amd64 | sort) | sort -V | tail -1)
if [[ -z "$abi" ]]; then
  log "apt knows no linux-image-6.1.0-*-amd64; updating the package lists"
  apt-get update -qq >&2
  abi=$(comm -12 <(abi_of amd64 | sort) <(abi_of cloud-amd64 | sort) | sort -V | tail -1)
fi
[[ -n "$abi" ]] || die "no Debian 6.1 kernel package found"

log "downloading linux-image-$abi-amd64 and linux-image-$abi-cloud-amd64"
rm -rf "$work/download"
download "linux-image-$abi-amd64" "linux-image-$abi-cloud-amd64" || die "apt-get download failed"
for flavour in amd64 cloud-amd64; do
  mkdir "$work/extract-$flavour"
  dpkg-deb -x "$work"/download/linux-image-"$abi"-"$flavour"_*.deb "$work/extract-$flavour"
done
cp "$work/extract-amd64/boot/vmlinuz-$abi-amd64" vmlinuz-generic
cp "$work/extract-cloud-amd64/boot/vmlinuz-$abi-cloud-amd64" vmlinuz-cloud
"$tools/kvm_vm/extract-vmlinux" vmlinuz-generic vmlinux
rm -rf "$work/extract-amd64" "$work/extract-cloud-amd64"
echo "$abi" > VERSION
make_modules "$abi"
log "kernels for $abi ready in $cache"
echo "$cache"
