#!/usr/bin/env bash
# tools/kvm-vm's own test: the test VM it boots (VMMD_TEST_KVM=vm, whatever this host has)
# gives the command a /dev/kvm, the caller's environment, directory and fd limit, stdout and
# stderr apart, its exit status, tmpfs where sockets are bound, read-write shares, and a
# working directory under /tmp; and kvm-vm's refusals say why.
set -uo pipefail
kvm_vm=$(readlink -f tools/kvm_vm/kvm-vm)
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
out=$TEST_TMPDIR/out err=$TEST_TMPDIR/err

# --where follows VMMD_TEST_KVM; a bad value is refused with 125, naming it.
[[ $(VMMD_TEST_KVM=vm "$kvm_vm" --where) == vm ]] || fail "--where with VMMD_TEST_KVM=vm"
[[ $(VMMD_TEST_KVM=host "$kvm_vm" --where) == host ]] || fail "--where with VMMD_TEST_KVM=host"
VMMD_TEST_KVM=maybe "$kvm_vm" true 2>"$err"
[[ $? -eq 125 ]] && grep -q "VMMD_TEST_KVM=maybe is not one of auto, host, vm" "$err" || fail "bad VMMD_TEST_KVM: $(cat "$err")"

# No qemu: said in one line.
PATH=/nonexistent VMMD_TEST_KVM=vm /bin/bash "$kvm_vm" true 2>"$err"
[[ $? -eq 125 ]] && grep -q "no qemu: qemu-system-x86_64 is needed" "$err" || fail "without qemu: $(cat "$err")"

# The real thing, in the VM.
results=$TEST_UNDECLARED_OUTPUTS_DIR/results
mkdir -p "$results"
export KVM_VM_TEST_VALUE="two words"
ulimit -n 4321
started=$(date +%s.%N)
VMMD_TEST_KVM=vm VMMD_KVM_VM_WRITABLE="$results" "$kvm_vm" /bin/bash -c '
  set -e
  [[ -c /dev/kvm ]] || { echo "no /dev/kvm" >&2; exit 3; }
  echo "env=$KVM_VM_TEST_VALUE guest=$VMMD_KVM_VM_GUEST pwd=$PWD fds=$(ulimit -n)"
  echo "to stderr" >&2
  # A Unix socket in $TEST_TMPDIR (a tmpfs; 9p cannot bind one), by a relative name: the
  # full path is longer than sun_path.
  (cd "$TEST_TMPDIR" && python3 -c "import socket; socket.socket(socket.AF_UNIX).bind(\"sock\")")
  echo written > "$1/from-the-vm"
  exit 7
' kvm-vm-test "$results" >"$out" 2>"$err"
status=$?
echo "the VM ran the command in $(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
[[ $status -eq 7 ]] || fail "exit status $status, not 7; stderr: $(cat "$err")"
grep -qx "env=two words guest=1 pwd=$PWD fds=4321" "$out" || fail "stdout: $(cat "$out")"
grep -qx "to stderr" "$err" || fail "stderr: $(cat "$err")"
grep -q "to stderr" "$out" && fail "stderr reached stdout"
[[ $(cat "$results/from-the-vm" 2>/dev/null) == written ]] || fail "nothing written through the share"

# A working directory under /tmp (a clone there), which the VM's own tmpfs on /tmp would
# hide: shown, read-only.
here=$(mktemp -d /tmp/kvm-vm-test.XXXXXX)
echo "from the host" > "$here/file"
(cd "$here" && VMMD_TEST_KVM=vm "$kvm_vm" /bin/bash -c 'cat file; touch file 2>/dev/null && echo writable; exit 0') >"$out" 2>"$err"
[[ $(cat "$out") == "from the host" ]] || fail "a working directory under /tmp: $(cat "$out"); $(cat "$err")"
rm -rf "$here"

# The caller's own writes to the same log file do not overwrite COMMAND's (as they did when
# QEMU opened the file a second time, with its own offset).
{ echo before; VMMD_TEST_KVM=vm "$kvm_vm" echo inside; echo after; } >"$out" 2>"$err"
[[ $(cat "$out") == $'before\ninside\nafter' ]] || fail "one log file: $(cat -A "$out")"

# A VM that wedges (here: its heartbeat stopped by the command) is killed, and the command
# runs once more in a new VM; the first run leaves a mark so that the second finishes.
rm -f "$results/wedged-once"
VMMD_TEST_KVM=vm VMMD_KVM_VM_WEDGED_AFTER_S=15 VMMD_KVM_VM_WRITABLE="$results" "$kvm_vm" /bin/bash -c '
  if [[ -e $1/wedged-once ]]; then echo "second run"; exit 0; fi
  touch "$1/wedged-once"
  kill -STOP "$(cat /run/kvm-vm/heartbeat.pid)"
  sleep 600
' kvm-vm-test "$results" >"$out" 2>"$err"
status=$?
[[ $status -eq 0 && $(cat "$out") == "second run" ]] || fail "after a wedge: status $status, stdout $(cat "$out")"
grep -q "the test VM stopped responding (no heartbeat for 15 s" "$err" || fail "the wedge not reported: $(cat "$err")"
grep -q "running COMMAND again in a new test VM" "$err" || fail "the rerun not reported: $(cat "$err")"

echo "$failures failed"
[[ $failures -eq 0 ]]
