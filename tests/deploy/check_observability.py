"""ctest deploy.Observability.AlertRulesAndDashboard: deploy/observability/ speaks of the
metrics that exist and of the runbooks that exist.

* Every seamq_* name in the alert rules and the dashboard is in the metric catalog
  (include/seamq/observability/metric_catalog.hpp; a histogram's _bucket/_sum/_count too),
  and every label a rule groups or matches by is one of that metric's labels (or one
  the scrape adds).
* Every runbook of docs/runbooks/ is the `runbook` of at least one alert, and every
  alert's runbook exists.
* The dashboard is what generate-dashboard makes from the catalog: one panel per metric.

Run with Debian's python3 (python3-yaml): check_observability.py REPO_ROOT
"""
import json
import os
import re
import subprocess
import sys

import yaml

repo = sys.argv[1]
failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
    return condition


def read(path):
    with open(os.path.join(repo, path), encoding="utf-8") as f:
        return f.read()


# The catalog: name -> (type, labels), read from the C++ definitions.
header = read("include/seamq/observability/metric_catalog.hpp")
label_sets = {m.group(1): re.findall(r'"([a-z_]+)"', m.group(2))
              for m in re.finditer(r"inline constexpr std::string_view (\w+)\[\] = \{([^}]*)\}", header)}
catalog = {}
definitions = re.split(r"inline constexpr (?=(?:Counter|Gauge|Histogram)Definition )", header)[1:]
for definition in definitions:
    m = re.match(r"(Counter|Gauge|Histogram)Definition \w+\{\s*\"(seamq_[a-z0-9_]+)\"", definition)
    labels = re.search(r"\blabels::(\w+)", definition.split("};", 1)[0])
    if m:
        catalog[m.group(2)] = (m.group(1).lower(), label_sets.get(labels.group(1), []) if labels else [])
check(len(catalog) >= 20, f"read only {len(catalog)} metrics from metric_catalog.hpp: has its form changed?")
scrape_labels = {"instance", "job", "namespace", "pod", "le"}


def families(expr):
    """The catalog metric each seamq_* name of a PromQL expression belongs to (or None)."""
    found = {}
    for name in re.findall(r"\bseamq_[a-z0-9_]+", expr):
        base = name
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and name[: -len(suffix)] in catalog:
                base = name[: -len(suffix)] if catalog[name[: -len(suffix)]][0] == "histogram" else name
        found[name] = base if base in catalog else None
    return found


def check_expression(expr, where):
    names = families(expr)
    check(names or re.search(r"\bup\{", expr), f"{where}: names no sea-mq metric: {expr}")
    for name, base in names.items():
        check(base, f"{where}: {name} is not in the metric catalog (metric_catalog.hpp)")
    known = set().union(*(catalog[b][1] for b in names.values() if b)) | scrape_labels if names else scrape_labels
    used = set()
    for group in re.findall(r"\b(?:by|on|without|ignoring)\s*\(([^)]*)\)", expr):
        used |= {label.strip() for label in group.split(",") if label.strip()}
    for matcher in re.findall(r"\{([^}]*)\}", expr):
        used |= set(re.findall(r"([a-z_]+)\s*=~?", matcher))
    check(used <= known, f"{where}: labels {sorted(used - known)} are not labels of {sorted(set(names))}")


# --- alert rules ------------------------------------------------------------------
rules = yaml.safe_load(read("deploy/observability/alerts.yaml"))
alerts = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
runbooks = sorted(f for f in os.listdir(os.path.join(repo, "docs/runbooks")) if f.endswith(".md") and f != "README.md")
named = set()
for rule in alerts:
    where = f"alert {rule['alert']}"
    check_expression(rule["expr"], where)
    runbook = rule.get("labels", {}).get("runbook", "")
    if check(runbook.startswith("docs/runbooks/"), f"{where} has no runbook label"):
        check(os.path.isfile(os.path.join(repo, runbook)), f"{where}: runbook {runbook} does not exist")
        named.add(os.path.basename(runbook))
    check(rule.get("labels", {}).get("severity") in ("critical", "warning", "info"), f"{where}: no severity")
    check(rule.get("annotations", {}).get("summary"), f"{where}: no summary")
# A procedure an operator starts (re-seeding a cell) says so on a line of its own; any
# other runbook answers an alert.
for runbook in runbooks:
    procedure = "<!-- procedure: no alert -->" in read(os.path.join("docs/runbooks", runbook))
    check(runbook in named or procedure,
          f"docs/runbooks/{runbook} has no alert (label runbook: docs/runbooks/{runbook})")
tested = set(re.findall(r"alertname:\s*(\w+)", read("deploy/observability/alerts.test.yaml")))
for rule in alerts:
    check(rule["alert"] in tested, f"alert {rule['alert']} has no case in alerts.test.yaml")

# --- dashboard ----------------------------------------------------------------------
committed = read("deploy/observability/grafana-dashboard.json")
generated = subprocess.run([sys.executable, os.path.join(repo, "deploy/observability/generate-dashboard"),
                            "--stdout"], capture_output=True, text=True)
check(generated.returncode == 0, f"generate-dashboard failed: {generated.stderr}")
check(committed == generated.stdout,
      "deploy/observability/grafana-dashboard.json differs from the catalog: run deploy/observability/generate-dashboard")
dashboard = json.loads(committed)
shown = set()
for panel in dashboard["panels"]:
    for target in panel.get("targets", []):
        check_expression(target["expr"], f"dashboard panel {panel['title']}")
        shown |= {b for b in families(target["expr"]).values() if b}
check(shown == set(catalog), f"dashboard lacks panels for {sorted(set(catalog) - shown)}")

for f in failures:
    print("observability: " + f, file=sys.stderr)
if failures:
    sys.exit(1)
print(f"observability: {len(alerts)} alerts over {len(runbooks)} runbooks and "
      f"{len(dashboard['panels'])} dashboard panels name only catalog metrics ({len(catalog)})")
