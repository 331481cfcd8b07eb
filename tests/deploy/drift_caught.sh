#!/usr/bin/env bash
# ctest deploy.Drift.*: a check must fail when its subject drifts. Copies the repository's
# files (git ls-files; tests/node/node_modules linked) to a temporary tree, runs CHECK there
# once unchanged (must pass), then after replacing PATTERN (a Python regex) by REPLACEMENT
# in FILE (must fail, printing EXPECTED).
#   tests/deploy/drift_caught.sh REPO_ROOT FILE PATTERN REPLACEMENT EXPECTED CHECK [ARGS...]
# CHECK and ARGS may use @ROOT@ for the copy's root.
set -euo pipefail
repo=${1:?}; file=${2:?}; pattern=${3:?}; replacement=${4?}; expected=${5:?}; shift 5
copy=$(mktemp -d "${TMPDIR:-/tmp}/seamq-drift.XXXXXX")
trap 'rm -rf "$copy"' EXIT
(cd "$repo" && git ls-files -co --exclude-standard -z | grep -zv '^tests/node/node_modules/' |
  xargs -0 tar -cf - --no-recursion 2>/dev/null) | tar -xf - -C "$copy"
ln -s "$repo/tests/node/node_modules" "$copy/tests/node/node_modules"
run() { "${@//@ROOT@/$copy}"; }
if ! out=$(run "$@" 2>&1); then
  echo "drift: the check fails on the unchanged copy already:" >&2; echo "$out" >&2; exit 1
fi
/usr/bin/python3 - "$copy/$file" "$pattern" "$replacement" <<'PY'
import re, sys
path, pattern, replacement = sys.argv[1:]
text = open(path, encoding="utf-8").read()
changed, count = re.subn(pattern, replacement, text, count=1, flags=re.M)
if count != 1:
    sys.exit(f"drift: {pattern!r} not found in {path}")
open(path, "w", encoding="utf-8").write(changed)
PY
if out=$(run "$@" 2>&1); then
  echo "drift: the check passed after $file was changed ($pattern -> $replacement):" >&2; echo "$out" >&2; exit 1
fi
if [[ "$out" != *"$expected"* ]]; then
  echo "drift: the check failed, but without saying '$expected':" >&2; echo "$out" >&2; exit 1
fi
echo "drift caught in $file ($pattern -> $replacement): $(grep -F -m1 -- "$expected" <<<"$out")"
