#!/usr/bin/env bash
# ctest infra.config_parity: every YAML file is well formed (yamllint, .yamllint) and
# nats.conf, scripts/nats-ha, Compose and deploy/k8s agree (check_parity.py).
#   tests/infra/check_parity.sh REPO_ROOT
set -euo pipefail
repo=${1:?usage: check_parity.sh REPO_ROOT}
cd "$repo"
mapfile -t files < <(git ls-files -co --exclude-standard '*.yaml' '*.yml')
((${#files[@]} > 0)) || { echo "check_parity: no YAML files found under $repo" >&2; exit 1; }
yamllint --strict -f parsable "${files[@]}"
echo "yamllint: ${#files[@]} YAML files well formed"
# Debian's python3: python3-yaml is installed with yamllint.
/usr/bin/python3 "$repo/tests/infra/check_parity.py" "$repo"
