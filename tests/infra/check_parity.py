"""Keeps the three ways of running the NATS cluster in step (ctest infra.config_parity).

infra/nats/nats.conf is the one configuration; scripts/nats-ha, the Compose profile
nats-ha (infra/docker/docker-compose.dev.yml) and deploy/k8s must all run exactly that
file, give it every variable it references, use the same ports, image version and
cluster size, and each environment's values must make nats-server accept the file.
The federation (docs/federation.md) too: scripts/federation and the Compose profile
federation run a hub (the same nodes, JetStream domain hub) and two cells, each its own
cluster name and domain, whose leafnode remotes reach every hub node as user federation
binding account SEAMQ; the federation user lets no event subject cross.

Run with Debian's python3 (python3-yaml comes with yamllint): check_parity.py REPO_ROOT
"""
import os
import re
import subprocess
import sys
import tempfile

import yaml

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
    return condition


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


repo = sys.argv[1]
conf_path = os.path.join(repo, "infra/nats/nats.conf")
compose_path = os.path.join(repo, "infra/docker/docker-compose.dev.yml")
k8s_dir = os.path.join(repo, "deploy/k8s")
script_path = os.path.join(repo, "scripts/nats-ha")
conf = read(conf_path)

# --- the configuration itself ---------------------------------------------------
code = "\n".join(line.split("#", 1)[0] for line in conf.splitlines())
# Quoted strings are subjects such as "$JS.API.>": nats-server substitutes only bare $NAME.
bare = re.sub(r'"[^"\n]*"', '""', code)
variables = set(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", bare))
node_variables = {"NATS_SERVER_NAME", "NATS_HOST", "NATS_CLIENT_PORT", "NATS_MONITOR_PORT",
                  "NATS_CLUSTER_PORT", "NATS_CLUSTER_ROUTES", "NATS_STORE_DIR", "NATS_CLUSTER_NAME",
                  "NATS_JETSTREAM_DOMAIN", "NATS_LEAFNODE_PORT", "NATS_LEAFNODE_REMOTES"}

# Users: one per role, for every context of config/streams.yaml (docs/security.md),
# each with its own password variable and no literal password.
contexts = [c["name"] for c in yaml.safe_load(read(os.path.join(repo, "config/streams.yaml")))["contexts"]]
expected_users = ["monitor", "federation", "operator"] + [f"{role}-{c}" for role in ("worker", "service") for c in contexts]
users = re.findall(r"^\s*user:\s*([A-Za-z0-9_-]+)\s*\n\s*password:\s*(\S+)\s*$", bare, re.M)
check(sorted(u for u, _ in users) == sorted(expected_users),
      f"nats.conf users {sorted(u for u, _ in users)}, expected {sorted(expected_users)} "
      f"(one per role and context of config/streams.yaml)")
password_variables = {}
for user, value in users:
    wanted = "NATS_" + user.upper().replace("-", "_") + "_PASSWORD"
    if check(value == "$" + wanted, f"nats.conf: user {user} must have `password: ${wanted}` (from the "
                                    f"environment), has {value}"):
        password_variables[user] = wanted
check(len(re.findall(r"^\s*(password|pass|token|nkey)\s*:", bare, re.M)) == len(users),
      "nats.conf has a password, token or nkey outside the users' `password: $NATS_..._PASSWORD` lines")
check(variables == node_variables | set(password_variables.values()),
      f"nats.conf references {sorted(variables)}; update this test and every environment together")
check(re.search(r"^\s*no_auth_user", bare, re.M) is None, "nats.conf must not let clients in without a user")
check(re.search(r"^\s*authorization\s*\{", bare, re.M) is None,
      "nats.conf: users belong in accounts {}, not a top-level authorization block")
check(re.search(r"^system_account:\s*SYS\s*$", bare, re.M), "nats.conf must name SYS the system account")


def user_block(user):
    """The text of one user's entry: from its `user:` line to the next one (or the end)."""
    start = re.search(r"^\s*user:\s*%s\s*$" % re.escape(user), bare, re.M)
    if not start:
        return ""
    following = re.search(r"^\s*user:", bare[start.end():], re.M)
    return bare[start.start(): start.end() + following.start()] if following else bare[start.start():]


def raw_user_block(user):
    """The same entry with its quoted subjects (user_block blanks them)."""
    start = re.search(r"^\s*user:\s*%s\s*$" % re.escape(user), code, re.M)
    if not start:
        return ""
    following = re.search(r"^\s*user:", code[start.end():], re.M)
    return code[start.start(): start.end() + following.start()] if following else code[start.start():]


account_names = ("FEDERATION", "SYS", "SEAMQ")
accounts_at = {name: m.start() for name in account_names
               for m in [re.search(r"^\s*%s\s*\{" % name, bare, re.M)] if m}
check(set(accounts_at) == set(account_names), "nats.conf must declare accounts FEDERATION, SYS and SEAMQ")
if set(accounts_at) == set(account_names):
    check(re.search(r"jetstream:\s*enabled", bare[accounts_at["SEAMQ"]:]),
          "account SEAMQ must have `jetstream: enabled` (the streams live there)")
    federation_text = bare[accounts_at["FEDERATION"]:min(a for a in accounts_at.values() if a > accounts_at["FEDERATION"])] \
        if any(a > accounts_at["FEDERATION"] for a in accounts_at.values()) else bare[accounts_at["FEDERATION"]:]
    check("jetstream" not in federation_text, "account FEDERATION must not have JetStream (it only passes traffic)")
    home = {"monitor": "SYS", "federation": "FEDERATION"}
    for user in expected_users:
        found = re.search(r"^\s*user:\s*%s\s*$" % re.escape(user), bare, re.M)
        if not found:
            continue
        account = max((a for a in accounts_at if accounts_at[a] < found.start()), key=lambda a: accounts_at[a],
                      default=None)
        check(account == home.get(user, "SEAMQ"), f"nats.conf: user {user} is in account {account}")

# The federation user: only what stream sourcing needs may cross the leafnode (nats.conf
# says why), and the consumer API of every context's events, dead-letter and import
# streams is denied, in both directions.
federation_block = raw_user_block("federation")
for direction in ("publish", "subscribe"):
    m = re.search(r"%s:\s*\{\s*allow:\s*\[([^\]]*)\]\s*deny:\s*\[([^\]]*)\]" % direction, federation_block)
    if not check(m, f"nats.conf: federation needs `{direction}: {{allow: [...] deny: [...]}}`"):
        continue
    allowed = re.findall(r'"([^"]+)"', m.group(1))
    denied = set(re.findall(r'"([^"]+)"', m.group(2)))
    check(sorted(allowed) == sorted(["$JS.*.API.CONSUMER.>", "$JS.S.>", "$JS.FC.>", "$JSC.R.>"]),
          f"nats.conf: federation {direction} allows {allowed}: only stream sourcing may cross")
    for context in contexts:
        for stream in (f"{context.upper()}_EVENTS", f"{context.upper()}_DLQ", f"{context.upper()}_IMPORTS"):
            wanted = {f"$JS.*.API.CONSUMER.*.{stream}", f"$JS.*.API.CONSUMER.*.{stream}.>",
                      f"$JS.*.API.CONSUMER.*.*.{stream}.>"}
            check(wanted <= denied, f"nats.conf: federation {direction} must deny {sorted(wanted - denied)}")
for context in contexts:
    stream = context.upper()
    for role in ("worker", "service"):
        block = raw_user_block(f"{role}-{context}")
        check("permissions" in block, f"nats.conf: {role}-{context} has no permissions")
        check(f'"{context}.>"' in block and f'"$JS.ACK.{stream}_EVENTS.>"' in block,
              f"nats.conf: {role}-{context} does not name {context}.> and $JS.ACK.{stream}_EVENTS.>")
        if role == "worker":
            check(f'"dlq.{context}.>"' in block, f"nats.conf: worker-{context} cannot dead-letter to dlq.{context}.>")
        else:
            check(re.search(r'deny:\s*\["%s\.>"\]' % re.escape(context), block),
                  f"nats.conf: service-{context} must deny publishing to {context}.>")
        # Least privilege: nothing of another context, and no JetStream API wildcard.
        for other in contexts:
            if other != context:
                check(f'"{other}.' not in block and f"{other.upper()}_" not in block and f".{other}." not in block,
                      f"nats.conf: {role}-{context} may touch context {other}")
        check('"$JS.API.>"' not in block and '">"' not in block,
              f"nats.conf: {role}-{context} has a wildcard over the whole JetStream API or every subject")
check("${" not in code, "nats.conf uses ${NAME}: nats-server 2.9 only substitutes $NAME")
check(re.search(r"^\s*routes:\s*\$NATS_CLUSTER_ROUTES\s*$", code, re.M),
      "nats.conf must read `routes: $NATS_CLUSTER_ROUTES` (a bracketed value; `[ $VAR ]` keeps one URL)")
check(re.search(r"^\s*sync_interval", code, re.M) is None, "sync_interval does not exist in nats-server 2.9")

server_version = subprocess.run(["nats-server", "--version"], capture_output=True, text=True,
                                check=True).stdout.strip().rsplit("v", 1)[-1]


def validate_with_server(environment, where):
    """nats-server -t: the file parses and every option exists in this version."""
    with tempfile.TemporaryDirectory() as store:
        env = dict(os.environ)
        env.update(environment)
        env["NATS_STORE_DIR"] = store  # a container path would not exist here
        for variable in password_variables.values():  # Compose and K8s take them from secrets
            env[variable] = "pParityCheck" + variable.replace("_", "")
        result = subprocess.run(["nats-server", "-c", conf_path, "-t"], env=env,
                                capture_output=True, text=True)
        check(result.returncode == 0,
              f"{where}: nats-server {server_version} rejects nats.conf with its environment: "
              f"{result.stderr.strip() or result.stdout.strip()}")


def interpolated(environment):
    """A Compose environment as the container gets it: ${VAR:?...} replaced by the value
    validate_with_server gives every password variable."""
    return {k: re.sub(r"\$\{(NATS_[A-Z_]+_PASSWORD):\?[^}]*\}",
                      lambda m: "pParityCheck" + m.group(1).replace("_", ""), v) for k, v in environment.items()}


def remotes_of(value, where):
    """The leafnode remotes a cell is given: the URLs and the bound account."""
    compact = " ".join(value.split())
    m = re.fullmatch(r"\[\{urls: \[([^\]]*)\], account: (\w+)\}\]", compact)
    if not check(m, f"{where}: NATS_LEAFNODE_REMOTES must be [{{urls: [...], account: SEAMQ}}], got {value!r}"):
        return [], ""
    return [u.strip().strip('"') for u in m.group(1).split(",")], m.group(2)


def routes_of(value, where):
    check(value.startswith("[") and value.endswith("]"),
          f"{where}: NATS_CLUSTER_ROUTES must be one bracketed array, got {value!r}")
    return [r.strip() for r in value.strip("[]").split(",")]


# --- scripts/nats-ha --------------------------------------------------------------
script = read(script_path)
check(re.search(r'^conf=\$repo/infra/nats/nats\.conf$', script, re.M),
      "scripts/nats-ha does not run infra/nats/nats.conf")
script_exports = set(re.findall(r"\b(NATS_[A-Z_]+)=", script))
check(node_variables <= script_exports,
      f"scripts/nats-ha does not set {sorted(node_variables - script_exports)}")
local_ports = {}
for kind in ("CLIENT", "MONITOR", "CLUSTER"):
    m = re.search(r"SEAMQ_NATS_HA_%s_PORT:-(\d+)" % kind, script)
    if check(m, f"scripts/nats-ha has no default SEAMQ_NATS_HA_{kind}_PORT"):
        local_ports[kind] = int(m.group(1))
check(re.search(r"NATS_HOST=127\.0\.0\.1\b", script), "scripts/nats-ha must bind 127.0.0.1 only")
check(re.search(r"^nodes=\(1 2 3\)$", script, re.M), "scripts/nats-ha must run nodes 1 2 3")
# The cluster is a federation hub everywhere: the same cluster name and JetStream domain
# as Compose and Kubernetes, a leafnode port, no remotes.
check(re.search(r"NATS_CLUSTER_NAME=sea-nats NATS_JETSTREAM_DOMAIN=hub\b", script) and
      re.search(r"NATS_LEAFNODE_REMOTES='\[\]'", script),
      "scripts/nats-ha must run the hub: NATS_CLUSTER_NAME=sea-nats NATS_JETSTREAM_DOMAIN=hub, remotes []")
m = re.search(r"SEAMQ_NATS_HA_LEAFNODE_PORT:-(\d+)", script)
if check(m, "scripts/nats-ha has no default SEAMQ_NATS_HA_LEAFNODE_PORT"):
    local_ports["LEAFNODE"] = int(m.group(1))
script_passwords = dict(re.findall(r"^\s+([a-z-]+)=(NATS_[A-Z_]+_PASSWORD)$", script, re.M))
check(script_passwords == password_variables,
      f"scripts/nats-ha passwords {script_passwords} differ from nats.conf's users {password_variables}")
check(re.search(r'source "\$credentials"', script), "scripts/nats-ha does not give the nodes credentials.env")
generator = read(os.path.join(k8s_dir, "generate-credentials"))
generated = re.findall(r"^\s+(NATS_[A-Z_]+_PASSWORD)$", generator, re.M)
check(sorted(generated) == sorted(password_variables.values()),
      f"deploy/k8s/generate-credentials makes {sorted(generated)}, nats.conf reads "
      f"{sorted(password_variables.values())}")
ignored = read(os.path.join(repo, ".gitignore")).splitlines()
for secret_file in ("/deploy/k8s/nats-credentials.env", "/infra/docker/.env"):
    check(secret_file in ignored, f".gitignore must keep {secret_file} (passwords) out of git")

# --- scripts/federation -----------------------------------------------------------
federation_script = read(os.path.join(repo, "scripts/federation"))
check(re.search(r'^conf=\$repo/infra/nats/nats\.conf$', federation_script, re.M),
      "scripts/federation does not run infra/nats/nats.conf")
check(re.search(r"^clusters=\(hub cell-a cell-b\)$", federation_script, re.M) and
      re.search(r"^nodes=\(1 2 3\)$", federation_script, re.M),
      "scripts/federation must run clusters hub, cell-a, cell-b of nodes 1 2 3")
federation_exports = set(re.findall(r"\b(NATS_[A-Z_]+)=", federation_script))
check(node_variables <= federation_exports,
      f"scripts/federation does not set {sorted(node_variables - federation_exports)}")
check(re.search(r"NATS_HOST=127\.0\.0\.1\b", federation_script), "scripts/federation must bind 127.0.0.1 only")
check(dict(re.findall(r"^\s+([a-z-]+)=(NATS_[A-Z_]+_PASSWORD)$", federation_script, re.M)) == password_variables,
      "scripts/federation passwords differ from nats.conf's users")
check("account: SEAMQ" in federation_script and "nats://federation:$password@" in federation_script,
      "scripts/federation cells must reach the hub as user federation, binding account SEAMQ")
check(re.search(r'\[\[ "\$c" == hub \]\] && name=sea-nats', federation_script) and
      "NATS_JETSTREAM_DOMAIN=$c " in federation_script,
      "scripts/federation: hub cluster sea-nats, every cluster's JetStream domain its name (hub, cell-a, cell-b)")

# --- Compose ----------------------------------------------------------------------
compose = yaml.safe_load(read(compose_path))
services = {name: s for name, s in compose["services"].items() if "nats-ha" in s.get("profiles", [])}
check(sorted(services) == ["nats-1", "nats-2", "nats-3"],
      f"Compose profile nats-ha must have services nats-1..3, has {sorted(services)}")
compose_images = set()
container_ports = {}
for index, (name, service) in enumerate(sorted(services.items()), start=1):
    where = f"Compose service {name}"
    compose_images.add(service["image"])
    env = {k: str(v) for k, v in service["environment"].items()}
    check(set(env) >= variables, f"{where} does not set {sorted(variables - set(env))}")
    for variable in password_variables.values():
        check(re.fullmatch(r"\$\{%s:\?[^}]+\}" % variable, env.get(variable, "")),
              f"{where}: {variable} must be `${{{variable}:?...}}` (from the environment, no default)")
    check(env.get("NATS_SERVER_NAME") == name, f"{where}: NATS_SERVER_NAME must be {name}")
    check(service["command"] == ["-c", "/etc/nats/nats.conf"], f"{where}: command must be -c /etc/nats/nats.conf")
    mounts = [v for v in service["volumes"] if v.endswith(":/etc/nats/nats.conf:ro")]
    if check(len(mounts) == 1, f"{where} must mount nats.conf read-only at /etc/nats/nats.conf"):
        host_path = os.path.normpath(os.path.join(os.path.dirname(compose_path), mounts[0].split(":")[0]))
        check(host_path == os.path.normpath(conf_path), f"{where} mounts {host_path}, not {conf_path}")
    check(any(v.endswith(":" + env.get("NATS_STORE_DIR", "?")) for v in service["volumes"]),
          f"{where}: NATS_STORE_DIR is not a mounted volume")
    routes = routes_of(env.get("NATS_CLUSTER_ROUTES", ""), where)
    for kind in ("CLIENT", "MONITOR", "CLUSTER"):
        container_ports.setdefault(("compose", kind), set()).add(int(env[f"NATS_{kind}_PORT"]))
    check(routes == [f"nats://{n}:{env['NATS_CLUSTER_PORT']}" for n in sorted(services)],
          f"{where}: routes {routes} do not name every service on the cluster port")
    published = {}
    for mapping in service["ports"]:
        host_ip, host_port, target = str(mapping).split(":")
        check(host_ip == "127.0.0.1", f"{where}: port {mapping} must be published on 127.0.0.1 only")
        published[int(target)] = int(host_port)
    for kind in ("CLIENT", "MONITOR", "CLUSTER"):
        target = int(env[f"NATS_{kind}_PORT"])
        if kind in local_ports:
            check(published.get(target) == local_ports[kind] + index - 1,
                  f"{where}: {kind.lower()} port {target} is published as {published.get(target)}, "
                  f"scripts/nats-ha uses {local_ports[kind] + index - 1} for node {index}")
    health = " ".join(service["healthcheck"]["test"])
    check(f"127.0.0.1:{env['NATS_MONITOR_PORT']}/healthz" in health, f"{where}: healthcheck is not /healthz")
    validate_with_server(env, where)

hub_environment = {}
for name, service in sorted(services.items()):
    env = {k: str(v) for k, v in service["environment"].items()}
    check(env.get("NATS_CLUSTER_NAME") == "sea-nats" and env.get("NATS_JETSTREAM_DOMAIN") == "hub" and
          env.get("NATS_LEAFNODE_REMOTES") == "[]",
          f"Compose service {name}: the hub is cluster sea-nats, JetStream domain hub, no remotes")
    check("federation" in service.get("profiles", []), f"Compose service {name} must be in profile federation too")
    hub_environment = env

# Profile federation: the hub's nodes and two cells of three.
federated = {name: s for name, s in compose["services"].items() if "federation" in s.get("profiles", [])}
cells = {"cell-a": [f"cell-a-{n}" for n in (1, 2, 3)], "cell-b": [f"cell-b-{n}" for n in (1, 2, 3)]}
check(sorted(federated) == sorted(list(services) + cells["cell-a"] + cells["cell-b"]),
      f"Compose profile federation must have nats-1..3, cell-a-1..3, cell-b-1..3; has {sorted(federated)}")
hub_leafnode_port = hub_environment.get("NATS_LEAFNODE_PORT", "?")
for cell, members in cells.items():
    for name in members:
        service = federated.get(name)
        if not service:
            continue
        where = f"Compose service {name}"
        env = {k: str(v) for k, v in service["environment"].items()}
        check(set(env) >= variables, f"{where} does not set {sorted(variables - set(env))}")
        check(env.get("NATS_SERVER_NAME") == name, f"{where}: NATS_SERVER_NAME must be {name}")
        check(env.get("NATS_CLUSTER_NAME") == cell and env.get("NATS_JETSTREAM_DOMAIN") == cell,
              f"{where}: cluster name and JetStream domain must be {cell}")
        check(service["command"] == ["-c", "/etc/nats/nats.conf"] and service["image"] in compose_images,
              f"{where}: must run the hub's image with -c /etc/nats/nats.conf")
        check(any(v == "../nats/nats.conf:/etc/nats/nats.conf:ro" for v in service["volumes"]),
              f"{where} must mount nats.conf read-only at /etc/nats/nats.conf")
        check(routes_of(env.get("NATS_CLUSTER_ROUTES", ""), where) ==
              [f"nats://{n}:{env['NATS_CLUSTER_PORT']}" for n in members],
              f"{where}: routes must name the three nodes of {cell}")
        urls, account = remotes_of(env.get("NATS_LEAFNODE_REMOTES", ""), where)
        check(account == "SEAMQ", f"{where}: the leafnode remote must bind account SEAMQ, binds {account!r}")
        check(urls == [f"nats://federation:${{NATS_FEDERATION_PASSWORD:?see docs/security.md}}@{n}:{hub_leafnode_port}"
                       for n in sorted(services)],
              f"{where}: remotes {urls} must reach every hub node's leafnode port as user federation")
        for mapping in service.get("ports", []):
            check(str(mapping).startswith("127.0.0.1:"), f"{where}: port {mapping} must be published on 127.0.0.1 only")
        validate_with_server(interpolated(env), where)

# --- Kubernetes -------------------------------------------------------------------
documents = []
for file_name in sorted(os.listdir(k8s_dir)):
    if file_name.endswith(".yaml"):
        documents += [d for d in yaml.safe_load_all(read(os.path.join(k8s_dir, file_name))) if d]
by_kind = {}
for d in documents:
    by_kind.setdefault(d["kind"], {})[d.get("metadata", {}).get("name", "")] = d
kustomization = by_kind.get("Kustomization", {})
listed = next(iter(kustomization.values()), {}).get("resources", []) if kustomization else []
check(sorted(listed) == sorted(f for f in os.listdir(k8s_dir) if f.endswith(".yaml") and f != "kustomization.yaml"),
      f"deploy/k8s/kustomization.yaml lists {listed}, not every manifest")

configmap = by_kind.get("ConfigMap", {}).get("nats-config")
if check(configmap, "deploy/k8s has no ConfigMap nats-config"):
    check(configmap["data"].get("nats.conf") == conf,
          "ConfigMap nats-config differs from infra/nats/nats.conf: run deploy/k8s/generate-configmap")

statefulset = by_kind.get("StatefulSet", {}).get("nats")
if check(statefulset, "deploy/k8s has no StatefulSet nats"):
    spec = statefulset["spec"]
    replicas = spec["replicas"]
    check(replicas == len(services) == 3, f"StatefulSet replicas {replicas}, Compose nodes {len(services)}")
    check(spec.get("podManagementPolicy") == "Parallel",
          "StatefulSet must start pods in Parallel (a node is not ready before a meta leader exists)")
    labels = spec["template"]["metadata"]["labels"]
    check(spec["selector"]["matchLabels"].items() <= labels.items(), "StatefulSet selector does not match its pods")
    pod = spec["template"]["spec"]
    terms = pod["affinity"]["podAntiAffinity"].get("requiredDuringSchedulingIgnoredDuringExecution", [])
    check(any(t["topologyKey"] == "kubernetes.io/hostname" for t in terms),
          "StatefulSet needs required pod anti-affinity on kubernetes.io/hostname")
    container = pod["containers"][0]
    check(container["image"] in compose_images and len(compose_images) == 1,
          f"images differ: K8s {container['image']}, Compose {sorted(compose_images)}")
    check(container["image"].split(":")[1].startswith(server_version + "-"),
          f"image {container['image']} is not nats-server {server_version} (the version tested here)")
    check(container["command"] == ["nats-server", "-c", "/etc/nats/nats.conf"],
          "StatefulSet container must run nats-server -c /etc/nats/nats.conf")
    config_mount = [m for m in container["volumeMounts"] if m["mountPath"] == "/etc/nats"]
    config_volume = [v for v in pod["volumes"] if v.get("configMap", {}).get("name") == "nats-config"]
    check(config_mount and config_volume and config_mount[0]["name"] == config_volume[0]["name"],
          "StatefulSet must mount ConfigMap nats-config at /etc/nats")
    env = {e["name"]: e for e in container["env"]}
    check(set(env) >= variables, f"StatefulSet does not set {sorted(variables - set(env))}")
    check(env["NATS_SERVER_NAME"].get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name",
          "NATS_SERVER_NAME must be the pod name (stable across restarts)")
    for variable in password_variables.values():
        ref = env.get(variable, {}).get("valueFrom", {}).get("secretKeyRef", {})
        check(ref.get("name") == "nats-credentials" and ref.get("key") == variable,
              f"StatefulSet: {variable} must come from Secret nats-credentials, key {variable}")
    generators = next(iter(kustomization.values()), {}).get("secretGenerator", []) if kustomization else []
    check(generators and generators[0].get("name") == "nats-credentials" and
          generators[0].get("envs") == ["nats-credentials.env"],
          "deploy/k8s/kustomization.yaml must make Secret nats-credentials from nats-credentials.env")
    values = {k: str(e["value"]) for k, e in env.items() if "value" in e}
    named_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    check(values.get("NATS_CLUSTER_NAME") == "sea-nats" and values.get("NATS_JETSTREAM_DOMAIN") == "hub" and
          values.get("NATS_LEAFNODE_REMOTES") == "[]",
          "StatefulSet: the hub is cluster sea-nats, JetStream domain hub, no remotes (as in Compose)")
    container_ports[("compose", "LEAFNODE")] = {int(hub_environment.get("NATS_LEAFNODE_PORT", 0))}
    client_ports = {p["name"] for p in by_kind.get("Service", {}).get("nats", {}).get("spec", {}).get("ports", [])}
    check("leafnodes" in client_ports, "Service nats must offer the leafnode port (cells connect to it)")
    for kind, port_name in (("CLIENT", "client"), ("MONITOR", "monitor"), ("CLUSTER", "routes"),
                            ("LEAFNODE", "leafnodes")):
        port = int(values[f"NATS_{kind}_PORT"])
        check({port} == container_ports.get(("compose", kind)),
              f"{kind.lower()} port: K8s {port}, Compose {container_ports.get(('compose', kind))}")
        check(named_ports.get(port_name) == port, f"containerPort {port_name} is not NATS_{kind}_PORT {port}")
    headless = spec["serviceName"]
    routes = routes_of(values["NATS_CLUSTER_ROUTES"], "StatefulSet")
    check(routes == [f"nats://nats-{i}.{headless}:{values['NATS_CLUSTER_PORT']}" for i in range(replicas)],
          f"StatefulSet routes {routes} do not name every pod through {headless}")
    data_mount = [m for m in container["volumeMounts"] if m["mountPath"] == values["NATS_STORE_DIR"]]
    claims = [c["metadata"]["name"] for c in spec.get("volumeClaimTemplates", [])]
    check(data_mount and data_mount[0]["name"] in claims, "NATS_STORE_DIR must be a persistent volume claim")
    for probe in ("readinessProbe", "livenessProbe"):
        get = container.get(probe, {}).get("httpGet", {})
        check(get.get("path", "").split("?")[0] == "/healthz" and get.get("port") in ("monitor", 8222),
              f"{probe} must be an HTTP GET of /healthz on the monitor port")
    check(container["readinessProbe"]["httpGet"]["path"] == "/healthz",
          "readiness must be the full /healthz (JetStream current)")
    for d in [s for s in by_kind.get("Service", {}).values()]:
        for p in d["spec"]["ports"]:
            check(p["targetPort"] in named_ports and named_ports[p["targetPort"]] == p["port"],
                  f"Service {d['metadata']['name']} port {p['name']} does not match the container's")
    services_k8s = by_kind.get("Service", {})
    check(headless in services_k8s and services_k8s[headless]["spec"].get("clusterIP") == "None",
          f"{headless} must be a headless service")
    check(services_k8s.get(headless, {}).get("spec", {}).get("publishNotReadyAddresses") is True,
          f"{headless} must publish not-ready addresses (routes come before readiness)")
    check("nats" in services_k8s and services_k8s["nats"]["spec"].get("clusterIP") != "None",
          "client service nats is missing")
    validate_with_server({**values, "NATS_SERVER_NAME": "nats-0"}, "StatefulSet")

# --- Kubernetes cells: the overlays of deploy/cells (kubectl apply -k deploy/cells/<cell>) ---
sys.path.insert(0, os.path.join(repo, "tests/deploy"))
import k8s_manifests  # noqa: E402  (the same reading as the schema and Pulumi checks)

try:
    k8s_cells = k8s_manifests.cells(repo)
except (ValueError, KeyError, IndexError) as error:
    check(False, f"deploy/cells: {error}")
    k8s_cells = {}
check(k8s_cells, "deploy/cells has no cell overlay (Kubernetes manifests for a federation cell)")
for cell, cell_documents in k8s_cells.items():
    where = f"deploy/cells/{cell}"
    cell_set = [m["doc"] for m in cell_documents if m["doc"]["kind"] == "StatefulSet"]
    if not check(len(cell_set) == 1, f"{where}: one StatefulSet nats expected"):
        continue
    cell_env_list = cell_set[0]["spec"]["template"]["spec"]["containers"][0]["env"]
    names = [e["name"] for e in cell_env_list]
    cell_values = {e["name"]: str(e["value"]) for e in cell_env_list if "value" in e}
    check(cell != "hub" and cell_values.get("NATS_CLUSTER_NAME") == cell and
          cell_values.get("NATS_JETSTREAM_DOMAIN") == cell,
          f"{where}: cluster name and JetStream domain must be the cell's name {cell!r}")
    urls, account = remotes_of(cell_values.get("NATS_LEAFNODE_REMOTES", ""), where)
    check(account == "SEAMQ", f"{where}: the leafnode remote must bind account SEAMQ, binds {account!r}")
    check(urls and all(re.fullmatch(r"nats://federation:\$\(NATS_FEDERATION_PASSWORD\)@[\w.-]+:7422", u)
                       for u in urls),
          f"{where}: remotes {urls} must reach the hub's leafnode port 7422 as user federation, the password "
          "from $(NATS_FEDERATION_PASSWORD)")
    check("NATS_FEDERATION_PASSWORD" in names and "NATS_LEAFNODE_REMOTES" in names and
          names.index("NATS_FEDERATION_PASSWORD") < names.index("NATS_LEAFNODE_REMOTES"),
          f"{where}: NATS_LEAFNODE_REMOTES must come after NATS_FEDERATION_PASSWORD (Kubernetes expands "
          "$(VAR) only from earlier variables)")
    hub_docs = {(d["kind"], d["metadata"]["name"]): d for d in documents if d and "metadata" in d}
    for m in cell_documents:
        key = (m["doc"]["kind"], m["doc"]["metadata"]["name"])
        if key != ("StatefulSet", "nats"):
            check(m["doc"] == hub_docs.get(key), f"{where}: {key} must be the hub's, unpatched")
    expanded = {**cell_values, "NATS_SERVER_NAME": "nats-0", "NATS_LEAFNODE_REMOTES":
                cell_values.get("NATS_LEAFNODE_REMOTES", "").replace("$(NATS_FEDERATION_PASSWORD)",
                                                                      "pParityCheckNATSFEDERATIONPASSWORD")}
    validate_with_server(expanded, where)

pdb = by_kind.get("PodDisruptionBudget", {}).get("nats-pdb")
if check(pdb, "deploy/k8s has no PodDisruptionBudget nats-pdb"):
    check(pdb["spec"].get("minAvailable") == 2, "PodDisruptionBudget minAvailable must be 2")
    if statefulset:
        check(pdb["spec"]["selector"]["matchLabels"].items() <= labels.items(),
              "PodDisruptionBudget selector does not match the NATS pods")

# --- the worker in HA mode -----------------------------------------------------------
worker = yaml.safe_load(read(os.path.join(repo, "config/worker.ha.yaml")))
if "CLIENT" in local_ports:
    expected = [f"nats://127.0.0.1:{local_ports['CLIENT'] + i}" for i in range(3)]
    check(worker["nats"]["servers"] == expected,
          f"config/worker.ha.yaml servers {worker['nats']['servers']}, scripts/nats-ha serves {expected}")
streams_file = os.path.join(repo, "config", worker.get("streams_file", ""))
if check(os.path.isfile(streams_file), f"config/worker.ha.yaml streams_file {streams_file} does not exist"):
    streams = yaml.safe_load(read(streams_file))
    check(streams["defaults"].get("replicas") == 3, f"{streams_file}: default replicas must be 3")
    for context in streams.get("contexts", []):
        for section in ("", "events", "dead_letters"):
            block = context.get(section, {}) if section else context
            check(block.get("replicas", 3) == 3, f"{streams_file}: context {context['name']} {section} not R3")

for f in failures:
    print("parity: " + f, file=sys.stderr)
if failures:
    sys.exit(1)
print(f"parity: nats.conf, scripts/nats-ha, Compose profile nats-ha and deploy/k8s agree "
      f"({len(variables)} variables, {len(password_variables)} users, nats-server {server_version})")
