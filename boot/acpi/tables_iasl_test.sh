#!/usr/bin/env bash
# The tables read back by a tool we did not write: acpica's disassembler (Debian's
# acpica-tools, `iasl -d`) must take every table without an error, and the DSDT must say what
# we meant: COM1, each virtio-mmio device as LNRO0005 with its window and interrupt, and \_S5.
set -uo pipefail
write_tables=$1
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

command -v iasl >/dev/null || { echo "FAIL: no iasl (apt-get install acpica-tools; tools/setup.sh does)" >&2; exit 1; }
for case in "1 0" "2 3" "64 16" "254 17"; do
  read -r vcpus devices <<< "$case"
  dir=$(mktemp -d "${TEST_TMPDIR:-/tmp}/acpi.XXXXXX")
  "$write_tables" "$dir" "$vcpus" "$devices" || { fail "write_tables $case"; continue; }
  for table in DSDT FACP APIC XSDT; do
    if ! (cd "$dir" && iasl -d "$table.dat" > "$table.log" 2>&1); then
      fail "$vcpus vCPUs, $devices devices: iasl -d $table.dat: $(tail -5 "$dir/$table.log")"
      continue
    fi
    grep -q "Error" "$dir/$table.dsl" && fail "$case: $table.dsl mentions an error"
  done
  dsl=$dir/DSDT.dsl
  [[ -f $dsl ]] || continue
  [[ $(grep -c '"LNRO0005"' "$dsl") -eq $devices ]] || fail "$case: not $devices LNRO0005 devices in the DSDT"
  grep -q 'EisaId ("PNP0501")' "$dsl" || fail "$case: no COM1 (PNP0501)"
  grep -q 'Name (\\_S5, Package' "$dsl" || fail "$case: no \\_S5"
  if [[ $devices -gt 0 ]]; then
    grep -q 'Memory32Fixed (ReadWrite,' "$dsl" || fail "$case: no device window"
    grep -q '0xD0000000,' "$dsl" || fail "$case: the first window is not at 0xD0000000"
    grep -q 'Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive' "$dsl" || fail "$case: no edge interrupt"
  fi
  [[ $(grep -c 'Subtable Type : 00 \[Processor Local APIC\]' "$dir/APIC.dsl") -eq $vcpus ]] ||
    fail "$case: not $vcpus local APICs in the MADT"
  grep -q 'Hardware Reduced (V5) : 1' "$dir/FACP.dsl" || fail "$case: FADT not hardware-reduced"
  rm -rf "$dir"
done
[[ $failures -eq 0 ]] && echo "PASS: iasl -d read every table"
exit $((failures > 0))
