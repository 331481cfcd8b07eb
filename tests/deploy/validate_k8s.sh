#!/usr/bin/env bash
# ctest deploy.Kubernetes.ManifestsMatchApiSchemas: every manifest of deploy/k8s (but the
# kustomization, which is no API object) validated against the Kubernetes API schemas of
# npm kubernetes-models (tests/node/k8s_validate.mjs).
#   tests/deploy/validate_k8s.sh REPO_ROOT
set -euo pipefail
repo=${1:?usage: validate_k8s.sh REPO_ROOT}
json=$(mktemp "${TMPDIR:-/tmp}/seamq-k8s.XXXXXX.json")
trap 'rm -f "$json"' EXIT
/usr/bin/python3 - "$repo/deploy/k8s" "$json" <<'PY'
import json, os, sys
import yaml
directory, out = sys.argv[1:]
manifests = []
for name in sorted(os.listdir(directory)):
    if name.endswith(".yaml") and name != "kustomization.yaml":
        with open(os.path.join(directory, name), encoding="utf-8") as f:
            manifests += [{"source": f"deploy/k8s/{name}", "doc": d} for d in yaml.safe_load_all(f) if d]
json.dump(manifests, open(out, "w"))
PY
node "$repo/tests/node/k8s_validate.mjs" "$json"
