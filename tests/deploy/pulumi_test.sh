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
/usr/bin/python3 - "$repo/deploy/k8s" "$work/k8s.json" <<'PY'
import json, os, sys
import yaml
directory, out = sys.argv[1:]
manifests = []
for name in sorted(os.listdir(directory)):
    if name.endswith(".yaml"):
        with open(os.path.join(directory, name), encoding="utf-8") as f:
            manifests += [{"source": f"deploy/k8s/{name}", "doc": d} for d in yaml.safe_load_all(f) if d]
json.dump(manifests, open(out, "w"))
PY
# PULUMI_* unset: the SDK must not look for an engine or a backend.
env -u PULUMI_ACCESS_TOKEN -u PULUMI_BACKEND_URL NODE_PATH="$node_modules" SEAMQ_SOURCE_DIR="$repo" \
  SEAMQ_K8S_JSON="$work/k8s.json" node --test "$work/js/tests/deploy/pulumi/sea_cell.test.js"
