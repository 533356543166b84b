#!/usr/bin/env bash
# vmmctl over TLS, end to end: the real vmmd on a loopback TCP port with a server certificate
# (then also requiring client certificates, then plaintext), and the real vmmctl calling
# ListVms with and without the right --tls_* flags. Each case checks vmmctl's exit status
# and what it said.
#
# Usage: tls_test.sh PATH_TO_VMMD PATH_TO_VMMCTL
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 PATH_TO_VMMD PATH_TO_VMMCTL" >&2
  exit 2
fi
vmmd_binary=$1
vmmctl_binary=$2
# Only what each case sets.
unset VMMD_ADDRESS VMMD_TLS_CA_FILE VMMD_TLS_CERT_FILE VMMD_TLS_KEY_FILE VMMD_TLS_SERVER_NAME
work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/vmmctl-tls.XXXXXX")
daemon_pid=
port=

stop_vmmd() {
  if [[ -n $daemon_pid ]]; then
    kill -TERM "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
    daemon_pid=
  fi
}
cleanup() {
  stop_vmmd
  rm -rf "$work"
}
trap cleanup EXIT

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# A CA, a server certificate for 127.0.0.1 and localhost, a client certificate from the CA,
# and a second CA with a client certificate of its own (a stranger).
make_certificates() (
  cd "$work"
  local key='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'
  for ca in ca other_ca; do
    openssl req -x509 $key -keyout $ca.key -out $ca.crt -days 2 -subj "/CN=vmmctl test $ca" \
      -addext keyUsage=critical,keyCertSign,cRLSign
  done
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext
  printf 'extendedKeyUsage=clientAuth\n' >client.ext
  sign() {  # sign NAME CA EXTENSIONS SUBJECT
    openssl req $key -keyout "$1.key" -out "$1.csr" -subj "$4"
    openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial -days 2 \
      -extfile "$3" -out "$1.crt"
  }
  sign server ca server.ext /CN=localhost
  sign client ca client.ext '/CN=vmmctl test client'
  sign stranger other_ca client.ext '/CN=vmmctl test stranger'
)

# Whether something accepts connections on 127.0.0.1:$1.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_vmmd FLAGS...: vmmd on a free loopback port ($port), no KVM, until it serves. Ports
# below Linux's ephemeral range, so that no kernel-chosen port of another test collides; one
# in use is skipped (gRPC sets SO_REUSEPORT, so vmmd would not notice).
start_vmmd() {
  stop_vmmd
  for _ in $(seq 50); do
    port=$((20000 + RANDOM % 12000))
    port_in_use "$port" || break
  done
  # Emptied here, not by the child's redirection, which may come after the first grep below
  # and leave it the previous vmmd's "serving" line.
  : >"$work/vmmd.log"
  "$vmmd_binary" --kvm_device=/nonexistent/kvm "--listen=tcp:127.0.0.1:$port" "$@" \
    >>"$work/vmmd.log" 2>&1 &
  daemon_pid=$!
  for _ in $(seq 300); do  # up to 30 s: sanitizer builds start slowly
    grep -q 'vmmd serving on' "$work/vmmd.log" && return 0
    kill -0 "$daemon_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "FAIL: vmmd did not start serving on port $port:" >&2
  cat "$work/vmmd.log" >&2
  exit 1
}

# check NAME WANT_STATUS WANT_PATTERN VMMCTL_ARGS...: vmmctl must exit with WANT_STATUS and
# print (stdout or stderr) a line matching the extended regular expression WANT_PATTERN.
check() {
  local name=$1 want_status=$2 want_pattern=$3
  shift 3
  local status=0
  "$vmmctl_binary" --timeout_s 30 "$@" >"$work/output" 2>&1 || status=$?
  if [[ $status -ne $want_status ]]; then
    fail "$name: vmmctl $* exited $status, want $want_status; it printed:"
    cat "$work/output" >&2
  elif ! grep -qE -- "$want_pattern" "$work/output"; then
    fail "$name: vmmctl $* did not print /$want_pattern/; it printed:"
    cat "$work/output" >&2
  else
    echo "PASS: $name"
  fi
}

make_certificates >"$work/openssl.log" 2>&1 || { cat "$work/openssl.log" >&2; exit 1; }
ca=$work/ca.crt
list_header='^ID +STATE'

start_vmmd "--tls_cert_file=$work/server.crt" "--tls_key_file=$work/server.key"
address=tcp:127.0.0.1:$port
check "TLS trusting vmmd's CA" 0 "$list_header" --address "$address" --tls_ca_file "$ca" list
check "plaintext to a TLS vmmd" 1 \
  "server closed the connection; if vmmd serves TLS there.*give --tls_ca_file" \
  --address "$address" list
check "TLS trusting another CA" 1 \
  "TLS handshake failed: vmmd's certificate is not signed by a CA in --tls_ca_file $work/other_ca" \
  --address "$address" --tls_ca_file "$work/other_ca.crt" list
if grep -q 'ssl_transport_security' "$work/output"; then
  fail "gRPC's own handshake log line reached vmmctl's stderr"
fi
check "TLS trusting only the system's CAs" 1 "not signed by a CA this system trusts" \
  --address "$address" --tls_server_name localhost list
check "--tls_server_name is checked" 1 "certificate is for another name.*Peer name wrong.example" \
  --address "$address" --tls_ca_file "$ca" --tls_server_name wrong.example list
check "--tls_server_name a name the certificate has" 0 "$list_header" \
  --address "$address" --tls_ca_file "$ca" --tls_server_name localhost list
VMMD_ADDRESS=$address VMMD_TLS_CA_FILE=$ca check "\$VMMD_TLS_CA_FILE" 0 "$list_header" list
check "--json over TLS" 0 '^\{"vms":\[\]\}$' --json --address "$address" --tls_ca_file "$ca" list

start_vmmd "--tls_cert_file=$work/server.crt" "--tls_key_file=$work/server.key" \
  "--tls_client_ca_file=$ca"
address=tcp:127.0.0.1:$port
# vmmd refuses the client during the handshake, which vmmctl sees while connecting; should
# gRPC ever report the channel ready first, the refusal comes as ListVms's UNAVAILABLE.
check "mutual TLS without a client certificate" 1 \
  "give --tls_cert_file and --tls_key_file|ListVms: UNAVAILABLE" \
  --address "$address" --tls_ca_file "$ca" list
check "mutual TLS with a client certificate" 0 "$list_header" --address "$address" \
  --tls_ca_file "$ca" --tls_cert_file "$work/client.crt" --tls_key_file "$work/client.key" list
check "mutual TLS with a certificate from another CA" 1 \
  "does it trust the CA that signed --tls_cert_file|ListVms: UNAVAILABLE" --address "$address" \
  --tls_ca_file "$ca" --tls_cert_file "$work/stranger.crt" --tls_key_file "$work/stranger.key" list
VMMD_TLS_CERT_FILE=$work/client.crt VMMD_TLS_KEY_FILE=$work/client.key \
  check "\$VMMD_TLS_CERT_FILE and \$VMMD_TLS_KEY_FILE" 0 "$list_header" \
  --address "$address" --tls_ca_file "$ca" list

start_vmmd
address=tcp:127.0.0.1:$port
check "plaintext to a plaintext vmmd" 0 "$list_header" --address "$address" list
check "TLS to a plaintext vmmd" 1 "the server does not speak TLS" \
  --address "$address" --tls_ca_file "$ca" list
stop_vmmd

# Usage errors: no daemon needed, exit 2, the flag (and path) named.
check "TLS flag with a Unix socket" 2 \
  "--tls_ca_file asks for TLS, but --address unix:$work/vmmd.sock is a Unix socket" \
  --address "unix:$work/vmmd.sock" --tls_ca_file "$ca" list
VMMD_TLS_CA_FILE=$ca check "TLS variable with the default Unix socket" 2 \
  "VMMD_TLS_CA_FILE asks for TLS, but default address unix:/run/vmmd/vmmd.sock" list
check "missing CA file" 2 \
  "--tls_ca_file: cannot read $work/missing.pem: No such file or directory" \
  --address tcp:127.0.0.1:1 --tls_ca_file "$work/missing.pem" list
check "CA file without PEM" 2 "--tls_ca_file: $work/server.ext holds no PEM data" \
  --address tcp:127.0.0.1:1 --tls_ca_file "$work/server.ext" list
check "certificate without key" 2 "--tls_cert_file needs --tls_key_file too" \
  --address tcp:127.0.0.1:1 --tls_cert_file "$work/client.crt" list

if [[ $failures -ne 0 ]]; then
  echo "$failures case(s) failed" >&2
  exit 1
fi
echo "all cases passed"
