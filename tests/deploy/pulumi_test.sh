#!/usr/bin/env bash
# ctest deploy.Pulumi.SeaCellUnderMocks: compiles deploy/pulumi/components/sea-cell.ts and
# its test with tsc (npm typescript, tests/node) and runs the test with node's test
# runner under Pulumi's runtime mocks: no Pulumi CLI, service, provider plugin or cluster.
#   tests/deploy/pulumi_test.sh REPO_ROOT
set -euo pipefail
repo=${1:?usage: pulumi_test.sh REPO_ROOT}
work=$(mktemp -d "${TMPDIR:-/tmp}/seamq-pulumi.XXXXXX")
trap 'rm -rf "$work"' EXIT
node_modules=$repo/tests/node/node_modules
node "$node_modules/typescript/bin/tsc" -p "$repo/tests/deploy/pulumi/tsconfig.json" --outDir "$work/js"
/usr/bin/python3 "$repo/tests/deploy/k8s_manifests.py" "$repo" hub "$work/k8s.json" --all
/usr/bin/python3 "$repo/tests/deploy/k8s_manifests.py" "$repo" cells "$work/cells.json"
# PULUMI_* unset: the SDK must not look for an engine or a backend.
env -u PULUMI_ACCESS_TOKEN -u PULUMI_BACKEND_URL NODE_PATH="$node_modules" SEAMQ_SOURCE_DIR="$repo" \
  SEAMQ_K8S_JSON="$work/k8s.json" SEAMQ_K8S_CELLS_JSON="$work/cells.json" node --test "$work/js/tests/deploy/pulumi/sea_cell.test.js"
