"""The manifests of deploy/k8s (the hub) and of each cell overlay deploy/cells/<cell>, as
JSON lists of {source, doc}, for the schema check (validate_k8s.sh) and the Pulumi parity
test (pulumi_test.sh). A cell overlay is a kustomization whose one resource is ../../k8s and
whose patches are JSON patches (RFC 6902: test, replace, add, remove) with a target kind
and name; that subset is applied here as kustomize applies it (kubectl kustomize
deploy/cells/cell-a gives the same objects), and anything else in an overlay is refused.

    k8s_manifests.py REPO hub OUT.json [--all]   deploy/k8s (--all: the kustomization too)
    k8s_manifests.py REPO cells OUT.json          {cell: [{source, doc}]}
"""
import copy
import json
import os
import sys

import yaml


def hub(repo, include_kustomization):
    directory = os.path.join(repo, "deploy/k8s")
    manifests = []
    for name in sorted(os.listdir(directory)):
        if name.endswith(".yaml") and (include_kustomization or name != "kustomization.yaml"):
            with open(os.path.join(directory, name), encoding="utf-8") as f:
                manifests += [{"source": f"deploy/k8s/{name}", "doc": d} for d in yaml.safe_load_all(f) if d]
    return manifests


def pointer(path):
    if not path.startswith("/"):
        raise ValueError(f"JSON pointer {path!r} does not start with /")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def walk(doc, parts):
    for part in parts:
        doc = doc[int(part)] if isinstance(doc, list) else doc[part]
    return doc


def apply_patch(doc, operations, where):
    doc = copy.deepcopy(doc)
    for op in operations:
        parts = pointer(op["path"])
        parent, last = walk(doc, parts[:-1]), parts[-1]
        kind = op["op"]
        if kind == "test":
            if walk(doc, parts) != op["value"]:
                raise ValueError(f"{where}: test failed at {op['path']}: {walk(doc, parts)!r} is not {op['value']!r}")
        elif kind == "replace":
            walk(doc, parts)  # must exist
            parent[int(last) if isinstance(parent, list) else last] = op["value"]
        elif kind == "add":
            if isinstance(parent, list):
                parent.insert(len(parent) if last == "-" else int(last), op["value"])
            else:
                parent[last] = op["value"]
        elif kind == "remove":
            del parent[int(last) if isinstance(parent, list) else last]
        else:
            raise ValueError(f"{where}: JSON patch op {kind!r} is not supported here")
    return doc


def cells(repo):
    base = hub(repo, False)
    root = os.path.join(repo, "deploy/cells")
    result = {}
    for cell in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        directory = os.path.join(root, cell)
        with open(os.path.join(directory, "kustomization.yaml"), encoding="utf-8") as f:
            kustomization = yaml.safe_load(f)
        where = f"deploy/cells/{cell}/kustomization.yaml"
        unknown = set(kustomization) - {"apiVersion", "kind", "resources", "patches"}
        if kustomization.get("resources") != ["../../k8s"] or unknown:
            raise ValueError(f"{where}: only resources [../../k8s] and patches are supported (found {sorted(unknown)})")
        docs = [dict(m) for m in base]
        for patch in kustomization.get("patches", []):
            target = patch.get("target", {})
            with open(os.path.join(directory, patch["path"]), encoding="utf-8") as f:
                operations = yaml.safe_load(f)
            if not isinstance(operations, list) or not target.get("kind") or not target.get("name"):
                raise ValueError(f"{where}: patch {patch['path']} must be a JSON patch with a target kind and name")
            matched = [m for m in docs if m["doc"].get("kind") == target["kind"]
                       and m["doc"].get("metadata", {}).get("name") == target["name"]]
            if len(matched) != 1:
                raise ValueError(f"{where}: patch {patch['path']} matches {len(matched)} objects")
            matched[0]["doc"] = apply_patch(matched[0]["doc"], operations, f"deploy/cells/{cell}/{patch['path']}")
            matched[0]["source"] = f"deploy/cells/{cell} ({matched[0]['source']} patched)"
        result[cell] = docs
    return result


if __name__ == "__main__":
    repo, what, out = sys.argv[1:4]
    data = hub(repo, "--all" in sys.argv[4:]) if what == "hub" else cells(repo)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(data, f)
