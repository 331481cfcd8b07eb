#!/usr/bin/env bash
# ctest deploy.Observability.AlertRulesAndDashboard: promtool (Debian's prometheus) checks
# and unit-tests the alert rules and the example configuration; check_observability.py
# checks metric names, labels, runbooks and the generated dashboard.
#   tests/deploy/check_observability.sh REPO_ROOT
set -euo pipefail
repo=${1:?usage: check_observability.sh REPO_ROOT}
cd "$repo/deploy/observability"
promtool check rules alerts.yaml
promtool test rules alerts.test.yaml
promtool check config prometheus.example.yaml
/usr/bin/python3 "$repo/tests/deploy/check_observability.py" "$repo"
