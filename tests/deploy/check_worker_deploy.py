"""ctest deploy.Kubernetes.WorkerParity: the worker's deployments agree with each other
and with what the worker and NATS actually accept. No container engine or cluster runs
here, so this reads the files:

* config/worker.k8s.yaml is valid for the built sea-mq-worker (--check-config) and the
  ConfigMap sea-mq-worker-config carries it and config/streams-ha.yaml byte for byte;
* the Deployment (deploy/k8s/worker-deployment.yaml) runs it: >= 2 replicas, /readyz and
  /healthz probes and the scrape annotations on the configured admin port, every ${VAR}
  of the configuration from a Secret, the NATS password of the configured user from
  nats-credentials (the key nats.conf reads), a PodDisruptionBudget, resources;
* Compose (profile sea-mq) runs the same file with the same variables against nats-1..3;
* the Dockerfile: Debian bookworm, scripts/bootstrap in the build stage, a runtime stage
  that installs the package of every shared library the built binaries need, a non-root
  user whose uid is the pods' runAsUser, and the image tag is the project version.

Run with Debian's python3: check_worker_deploy.py REPO_ROOT BIN_DIR
"""
import os
import re
import subprocess
import sys

import yaml

repo, bin_dir = sys.argv[1], sys.argv[2]
failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
    return condition


def read(path):
    with open(os.path.join(repo, path), encoding="utf-8") as f:
        return f.read()


def documents(directory):
    found = {}
    for name in sorted(os.listdir(os.path.join(repo, directory))):
        if name.endswith(".yaml"):
            for d in yaml.safe_load_all(read(os.path.join(directory, name))):
                if d:
                    found.setdefault(d["kind"], {})[d.get("metadata", {}).get("name", "")] = d
    return found


version = re.search(r"project\(seamq VERSION ([0-9.]+)", read("CMakeLists.txt")).group(1)
image = f"sea-mq:{version}"
config_text = read("config/worker.k8s.yaml")
config = yaml.safe_load(config_text)
variables = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)(?::-[^}]*)?\}", config_text))
admin_port = int(config["admin"]["listen"].rsplit(":", 1)[1])
nats_user = config["nats"]["user"]
password_key = "NATS_" + nats_user.upper().replace("-", "_") + "_PASSWORD"
check(re.search(r"^\s*password:\s*\$%s\s*$" % password_key, read("infra/nats/nats.conf"), re.M),
      f"config/worker.k8s.yaml: user {nats_user} has no password ${password_key} in infra/nats/nats.conf")
check(config["admin"]["listen"].startswith("0.0.0.0:"), "the worker must listen on the pod's address for probes")

# --- the configuration is one the worker accepts --------------------------------------
environment = dict(os.environ, **{v: "placeholder" for v in variables})
environment["SEA_DATABASE_URL"] = "postgresql://user@db:5432/sea"
worker = os.path.join(bin_dir, "sea-mq-worker")
if check(os.access(worker, os.X_OK), f"{worker} is not built"):
    result = subprocess.run([worker, "--check-config", os.path.join(repo, "config/worker.k8s.yaml")],
                            env=environment, capture_output=True, text=True)
    check(result.returncode == 0, f"sea-mq-worker --check-config config/worker.k8s.yaml: {result.stdout}{result.stderr}")

# --- Kubernetes -------------------------------------------------------------------------
k8s = documents("deploy/k8s")
configmap = k8s.get("ConfigMap", {}).get("sea-mq-worker-config")
if check(configmap, "deploy/k8s has no ConfigMap sea-mq-worker-config"):
    check(configmap["data"].get("worker.yaml") == config_text,
          "ConfigMap sea-mq-worker-config worker.yaml differs from config/worker.k8s.yaml: run deploy/k8s/generate-configmap")
    streams_name = config["streams_file"]
    check(configmap["data"].get(streams_name) == read(os.path.join("config", streams_name)),
          f"ConfigMap sea-mq-worker-config {streams_name} differs from config/{streams_name}: run deploy/k8s/generate-configmap")

deployment = k8s.get("Deployment", {}).get("sea-mq-worker")
if check(deployment, "deploy/k8s has no Deployment sea-mq-worker"):
    spec = deployment["spec"]
    check(spec.get("replicas", 1) >= 2, f"Deployment replicas {spec.get('replicas')}: at least 2 (a relay standby)")
    pod_meta = spec["template"]["metadata"]
    check(spec["selector"]["matchLabels"].items() <= pod_meta["labels"].items(), "Deployment selector misses its pods")
    annotations = pod_meta.get("annotations", {})
    check(annotations.get("prometheus.io/scrape") == "true" and annotations.get("prometheus.io/port") == str(admin_port)
          and annotations.get("prometheus.io/path") == "/metrics",
          f"pod annotations must ask for a scrape of /metrics on {admin_port}: {annotations}")
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    check(container["image"] == image, f"Deployment image {container['image']}, expected {image} (project version)")
    check(container.get("args") == ["--config", "/etc/sea-mq/worker.yaml"], "container must run --config /etc/sea-mq/worker.yaml")
    mounts = {m["name"]: m["mountPath"] for m in container.get("volumeMounts", [])}
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    check(any(volumes.get(n, {}).get("configMap", {}).get("name") == "sea-mq-worker-config" and p == "/etc/sea-mq"
              for n, p in mounts.items()), "ConfigMap sea-mq-worker-config must be mounted at /etc/sea-mq")
    env = {e["name"]: e for e in container.get("env", [])}
    check(set(env) >= variables, f"Deployment does not set {sorted(variables - set(env))} (config/worker.k8s.yaml)")
    for variable in variables:
        check("secretKeyRef" in env.get(variable, {}).get("valueFrom", {}),
              f"Deployment: {variable} (a secret of the configuration) must come from a Secret")
    ref = env.get("NATS_PASSWORD", {}).get("valueFrom", {}).get("secretKeyRef", {})
    check(ref == {"name": "nats-credentials", "key": password_key},
          f"NATS_PASSWORD must be Secret nats-credentials key {password_key}, is {ref}")
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    check(ports.get("admin") == admin_port, f"containerPort admin must be {admin_port} (admin.listen)")
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        get = container.get(probe, {}).get("httpGet", {})
        check(get.get("path") == path and get.get("port") in ("admin", admin_port),
              f"{probe} must GET {path} on the admin port, is {get}")
    readiness_timeout = container.get("readinessProbe", {}).get("timeoutSeconds", 1)
    check(readiness_timeout > int(config["admin"]["readiness_check_timeout"].rstrip("s")),
          "readinessProbe timeoutSeconds must outlast admin.readiness_check_timeout")
    deadline = int(config["shutdown_deadline"].rstrip("s"))
    check(pod.get("terminationGracePeriodSeconds", 30) > deadline,
          f"terminationGracePeriodSeconds must exceed shutdown_deadline ({deadline}s)")
    requests = container.get("resources", {}).get("requests", {})
    check("cpu" in requests and "memory" in requests, "the worker container needs cpu and memory requests")
    check(container.get("resources", {}).get("limits", {}).get("memory"), "the worker container needs a memory limit")
    check(pod.get("securityContext", {}).get("runAsNonRoot") is True, "the worker pod must run as non-root")
    run_as = pod.get("securityContext", {}).get("runAsUser")
    terms = pod.get("affinity", {}).get("podAntiAffinity", {}).get("preferredDuringSchedulingIgnoredDuringExecution", [])
    check(any(t["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname" for t in terms),
          "the worker replicas should spread over nodes (preferred anti-affinity on kubernetes.io/hostname)")
    client = k8s.get("Service", {}).get("nats", {}).get("spec", {}).get("ports", [])
    client_port = next((p["port"] for p in client if p["name"] == "client"), None)
    check(config["nats"]["servers"] == [f"nats://nats:{client_port}"],
          f"config/worker.k8s.yaml servers {config['nats']['servers']}: the client service is nats:{client_port}")

pdb = k8s.get("PodDisruptionBudget", {}).get("sea-mq-worker-pdb")
if check(pdb, "deploy/k8s has no PodDisruptionBudget sea-mq-worker-pdb") and deployment:
    check(pdb["spec"]["selector"]["matchLabels"].items() <= pod_meta["labels"].items(), "worker PDB selects no worker pod")
    check(pdb["spec"].get("minAvailable", 0) >= 1 and pdb["spec"]["minAvailable"] < spec["replicas"],
          "worker PDB minAvailable must keep one and allow a drain")
kustomization = next(iter(k8s.get("Kustomization", {}).values()), {})
check("sea-mq-worker-database" in [g["name"] for g in kustomization.get("secretGenerator", [])],
      "kustomization.yaml must make Secret sea-mq-worker-database")
check("/deploy/k8s/sea-mq-worker-database.env" in read(".gitignore").splitlines(),
      ".gitignore must keep deploy/k8s/sea-mq-worker-database.env (a database password) out of git")
for job in k8s.get("Job", {}).values():
    c = job["spec"]["template"]["spec"]["containers"][0]
    check(c["image"] == image, f"Job {job['metadata']['name']} image {c['image']}, expected {image}")

# --- Compose ------------------------------------------------------------------------------
compose = yaml.safe_load(read("infra/docker/docker-compose.dev.yml"))
services = compose["services"]
service = services.get("sea-mq-worker")
if check(service and "sea-mq" in service.get("profiles", []), "Compose has no service sea-mq-worker in profile sea-mq"):
    check(service["image"] == image, f"Compose worker image {service['image']}, expected {image}")
    check(service.get("command") == ["--config", "/etc/sea-mq/worker.yaml"], "Compose worker must run /etc/sea-mq/worker.yaml")
    check("../../config/worker.k8s.yaml:/etc/sea-mq/worker.yaml:ro" in service["volumes"],
          "Compose worker must mount config/worker.k8s.yaml")
    compose_env = service.get("environment", {})
    check(set(compose_env) >= variables, f"Compose worker does not set {sorted(variables - set(compose_env))}")
    check(compose_env.get("NATS_PASSWORD") == "${%s:?see docs/security.md}" % password_key,
          f"Compose worker NATS_PASSWORD must be ${{{password_key}:?...}}")
    nats_nodes = sorted(n for n, s in services.items() if "nats-ha" in s.get("profiles", []))
    check(compose_env.get("SEAMQ_NATS_SERVERS") == ",".join(f"nats://{n}:4222" for n in nats_nodes),
          f"Compose worker SEAMQ_NATS_SERVERS must name {nats_nodes} on 4222")
    check(all(p.startswith("127.0.0.1:") for p in service.get("ports", [])), "Compose worker: publish on 127.0.0.1 only")
check(services.get("postgres", {}).get("image", "").startswith("postgres:15"),
      "Compose profile sea-mq needs PostgreSQL 15 (the version tested here)")
built = [s for s in services.values() if "build" in s]
check(len(built) == 1 and built[0]["build"]["context"] == "../.." and built[0]["image"] == image,
      f"one Compose service builds {image} from the repository's Dockerfile")

# --- Dockerfile ---------------------------------------------------------------------------
dockerfile = read("Dockerfile")
stages = re.findall(r"^FROM (\S+) AS (\w+)$", dockerfile, re.M)
check([s[0].split(":")[0] for s in stages] == ["debian", "debian"] and all("bookworm" in s[0] for s in stages),
      f"Dockerfile stages must be Debian bookworm: {stages}")
runtime = dockerfile.split("AS runtime", 1)[-1]
check(re.search(r"^RUN scripts/bootstrap --apt", dockerfile, re.M), "the build stage must install with scripts/bootstrap")
installed = set()
for block in re.findall(r"apt-get install (.*?)&&", runtime, re.S):
    installed |= {w for w in re.split(r"[\s\\]+", block) if re.fullmatch(r"[a-z0-9][a-z0-9.+-]+", w)}
essential = {"libc6", "libgcc-s1", "libstdc++6"}
cache = subprocess.run(["/sbin/ldconfig", "-p"], capture_output=True, text=True, check=True).stdout
needs = {}  # library -> the binaries that need it
for binary in ("sea-mq", "sea-mq-worker"):
    path = os.path.join(bin_dir, binary)
    if check(os.access(path, os.X_OK), f"{path} is not built"):
        elf = subprocess.run(["readelf", "-d", path], capture_output=True, text=True, check=True).stdout
        for library in re.findall(r"\(NEEDED\).*\[(.+)\]", elf):
            # The sanitizer runtimes of an asan build are not part of a release image.
            if not re.match(r"lib(a|ub|l|t)san\.so", library):
                needs.setdefault(library, []).append(binary)
candidates = {}  # a path dpkg may know the library under (usrmerge: /lib or /usr/lib) -> library
for library in needs:
    found = re.search(r"^\s*%s \(libc6,x86-64\) => (\S+)$" % re.escape(library), cache, re.M)
    if check(found, f"{'/'.join(needs[library])} needs {library}, which ldconfig does not know"):
        real = os.path.realpath(found.group(1))
        for candidate in (found.group(1), real, re.sub(r"^/usr/lib/", "/lib/", real),
                          re.sub(r"^/lib/", "/usr/lib/", real)):
            candidates[candidate] = library
owners = {}
listing = subprocess.run(["dpkg", "-S", *candidates], capture_output=True, text=True).stdout  # one call: dpkg is slow
for line in listing.splitlines():
    package, _, path = line.partition(": ")
    if path in candidates:
        owners[candidates[path]] = package.split(":", 1)[0]
for library, binaries in needs.items():
    package = owners.get(library, "?")
    check(package in installed | essential,
          f"{'/'.join(binaries)} needs {library} from Debian package {package}, which the Dockerfile's runtime "
          f"stage does not install ({sorted(installed)})")
user = re.search(r"useradd[^\n]*(?:\\\n[^\n]*)*--uid (\d+)", dockerfile)
check(user and re.search(r"^USER %s(:\d+)?$" % user.group(1), runtime, re.M),
      "the runtime stage must switch to the non-root user it creates")
if deployment and user:
    check(str(run_as) == user.group(1), f"pods runAsUser {run_as}, the image's user is {user.group(1)}")
check(re.search(r'^ENTRYPOINT \["sea-mq-worker"\]$', runtime, re.M), "ENTRYPOINT must be sea-mq-worker")
check(re.search(r"^EXPOSE %d$" % admin_port, runtime, re.M), f"EXPOSE {admin_port} (admin.listen)")

for f in failures:
    print("worker-deploy: " + f, file=sys.stderr)
if failures:
    sys.exit(1)
print(f"worker-deploy: config/worker.k8s.yaml, deploy/k8s, Compose profile sea-mq and the Dockerfile agree "
      f"(image {image}, admin port {admin_port}, NATS user {nats_user}, {len(installed)} runtime packages)")
