#!/usr/bin/env bash
# ctest deploy.Kubernetes.ManifestsMatchApiSchemas: every manifest of deploy/k8s (but the
# kustomization, which is no API object), and the objects each cell overlay of
# deploy/cells makes of them (tests/deploy/k8s_manifests.py), validated against the
# Kubernetes API schemas of npm kubernetes-models (tests/node/k8s_validate.mjs).
#   tests/deploy/validate_k8s.sh REPO_ROOT
set -euo pipefail
repo=${1:?usage: validate_k8s.sh REPO_ROOT}
json=$(mktemp "${TMPDIR:-/tmp}/seamq-k8s.XXXXXX.json")
cells=$(mktemp "${TMPDIR:-/tmp}/seamq-k8s-cells.XXXXXX.json")
trap 'rm -f "$json" "$cells"' EXIT
/usr/bin/python3 "$repo/tests/deploy/k8s_manifests.py" "$repo" hub "$json"
/usr/bin/python3 "$repo/tests/deploy/k8s_manifests.py" "$repo" cells "$cells"
# The cells' objects that differ from the hub's (the patched ones) are validated too.
/usr/bin/python3 - "$json" "$cells" <<'PY'
import json, sys
hub_file, cells_file = sys.argv[1:]
manifests = json.load(open(hub_file))
for cell, docs in json.load(open(cells_file)).items():
    manifests += [m for m in docs if m["source"].startswith("deploy/cells/")]
json.dump(manifests, open(hub_file, "w"))
PY
node "$repo/tests/node/k8s_validate.mjs" "$json"
