#!/usr/bin/env bash
# Checks deploy/vmmd.service: `systemd-analyze verify` accepts it (with ExecStart pointing at
# the real daemon binary, since verify insists the program exists and is executable), and the
# directives the daemon relies on are present.
#
# Usage: systemd_unit_test.sh PATH_TO_VMMD_BINARY [PATH_TO_UNIT]
# Under Bazel the unit comes from runfiles (deploy/vmmd.service); by hand, from the tree.
set -euo pipefail

if [[ $# -lt 1 ]]; then
  echo "usage: $0 PATH_TO_VMMD_BINARY [PATH_TO_UNIT]" >&2
  exit 2
fi
if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "SKIP: systemd-analyze is not on PATH; deploy/vmmd.service not verified"
  exit 0
fi
binary=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ $# -ge 2 ]]; then
  unit=$2
elif [[ -f deploy/vmmd.service ]]; then
  unit=deploy/vmmd.service # Bazel runs tests from the runfiles root
else
  unit=$here/../../deploy/vmmd.service
fi

if [[ ! -f $unit ]]; then
  echo "FAIL: unit file $unit not found" >&2
  exit 1
fi
if [[ ! -x $binary ]]; then
  echo "FAIL: daemon binary $binary is not an executable file" >&2
  exit 1
fi
# ExecStart= needs an absolute path.
binary=$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# The directives deploy/INSTALL.md and the daemon depend on, and the hardening INSTALL.md
# describes, as whole lines.
for directive in \
    'Type=notify' \
    'DeviceAllow=/dev/kvm rw' \
    'DeviceAllow=/dev/net/tun rw' \
    'DevicePolicy=closed' \
    'ProtectSystem=strict' \
    'NoNewPrivileges=yes' \
    'RuntimeDirectory=vmmd vmmd/vsock' \
    'StateDirectory=vmmd vmmd/images vmmd/snapshots' \
    'RuntimeDirectoryMode=0750' \
    'Restart=on-failure' \
    'UMask=0027' \
    'ProtectHome=yes' \
    'PrivateTmp=yes' \
    'ProtectProc=invisible' \
    'ProcSubset=pid' \
    'PrivateMounts=yes' \
    'PrivateIPC=yes' \
    'CapabilityBoundingSet=CAP_CHOWN CAP_NET_ADMIN' \
    'RestrictSUIDSGID=yes' \
    'LockPersonality=yes' \
    'RestrictRealtime=yes' \
    'RestrictNamespaces=yes' \
    'ProtectKernelModules=yes' \
    'ProtectKernelTunables=yes' \
    'ProtectKernelLogs=yes' \
    'ProtectControlGroups=yes' \
    'ProtectClock=yes' \
    'ProtectHostname=yes' \
    'MemoryDenyWriteExecute=yes' \
    'LimitCORE=0' \
    'SystemCallArchitectures=native' \
    'SystemCallFilter=@system-service' \
    'SystemCallFilter=seccomp' \
    'SystemCallErrorNumber=EPERM' \
    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' \
    'PrivateNetwork=no' \
    'IPAddressDeny=any' \
    'IPAddressAllow=localhost'; do
  grep -qxF -- "$directive" "$unit" || fail "$unit lacks the line '$directive'"
done
grep -q '^ExecStart=/usr/local/bin/vmmd\( \|$\)' "$unit" ||
  fail "$unit: ExecStart= does not start /usr/local/bin/vmmd"
# Metrics on loopback, which IPAddressAllow=localhost lets a local scraper reach.
grep -qE -- '--metrics_listen=tcp:127\.0\.0\.1:[0-9]+$' "$unit" ||
  fail "$unit: vmmd is not given --metrics_listen=tcp:127.0.0.1:PORT"
# Limits with a value of their own choosing: present, and a number.
for limit in LimitNOFILE TasksMax; do
  grep -qE "^$limit=[0-9]+$" "$unit" || fail "$unit lacks a numeric $limit="
done

tmp=$(mktemp -d "${TEST_TMPDIR:-${TMPDIR:-/tmp}}/vmmd-unit.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# Same name as the installed unit, so that verify reports it as vmmd.service.
copy=$tmp/vmmd.service
escaped=$(printf '%s' "$binary" | sed 's/[#&\\]/\\&/g')
sed "s#^ExecStart=/usr/local/bin/vmmd#ExecStart=$escaped#" "$unit" >"$copy"
grep -qF "ExecStart=$binary" "$copy" || fail "could not point ExecStart= at $binary"

set +e
output=$(systemd-analyze verify --man=no "$copy" 2>&1)
status=$?
set -e
# verify may also grumble about unrelated units installed on this host: only lines about
# ours count.
ours=$(printf '%s\n' "$output" | grep -F -e 'vmmd.service' -e "$tmp" || true)
if [[ $status -ne 0 ]]; then
  fail "systemd-analyze verify exited with status $status:"
  printf '%s\n' "$output" >&2
elif [[ -n $ours ]]; then
  fail "systemd-analyze verify complains about the unit:"
  printf '%s\n' "$ours" >&2
fi

if [[ $failures -ne 0 ]]; then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "PASS: $unit verifies with systemd-analyze and has the required directives"
