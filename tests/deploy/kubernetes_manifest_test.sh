#!/usr/bin/env bash
# Runs kubernetes_manifest_test.py with Debian's python3, which has python3-yaml
# (tools/setup.sh installs it).
exec /usr/bin/python3 "$@"
