#!/usr/bin/env bash
# ctest infra.nats_ha_local_cluster: scripts/nats-ha brings up a real 3-node cluster
# from infra/nats/nats.conf on free loopback ports, /jsz on every node shows the same
# meta leader and the leader sees both other peers current, everything listens on
# 127.0.0.1 only, `up` again changes nothing, and `down` leaves no process behind
# (checked by the PIDs the script wrote).
# Clients need a user: anonymous ones and wrong passwords are refused, the passwords
# `up` made up let the users in.
#   tests/infra/nats_ha_itest.sh REPO_ROOT TEST_ROOT
set -euo pipefail
repo=${1:?usage: nats_ha_itest.sh REPO_ROOT TEST_ROOT}
root=${2:?usage: nats_ha_itest.sh REPO_ROOT TEST_ROOT}
script=$repo/scripts/nats-ha
export SEAMQ_NATS_HA_DIR=$root/nats-ha-$$
state=$SEAMQ_NATS_HA_DIR
pids=()

fail() { echo "FAIL: $*" >&2; exit 1; }

cleanup() {
  local rc=$?
  "$script" down >/dev/null 2>&1 || true
  # Whatever `down` missed is stopped here, by PID, so a failure leaks nothing.
  local pid
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  if ((rc != 0)); then
    for log in "$state"/nats-*/nats.log; do
      [[ -f "$log" ]] && { echo "--- $log (last lines)" >&2; tail -15 "$log" >&2; }
    done
  fi
  rm -rf "$state"
  exit $rc
}
trap cleanup EXIT

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Four runs of three consecutive free ports, below the ephemeral range.
pick_ports() {
  local attempt base port ok bases=()
  for ((attempt = 0; attempt < 200 && ${#bases[@]} < 4; attempt++)); do
    base=$((20000 + (RANDOM % 1000) * 10))
    ok=1
    for ((port = base; port < base + 3; port++)); do listening "$port" && ok=0; done
    for b in "${bases[@]}"; do ((b == base)) && ok=0; done
    ((ok)) && bases+=("$base")
  done
  ((${#bases[@]} == 4)) || fail "no free ports found"
  export SEAMQ_NATS_HA_CLIENT_PORT=${bases[0]} SEAMQ_NATS_HA_MONITOR_PORT=${bases[1]} \
    SEAMQ_NATS_HA_CLUSTER_PORT=${bases[2]} SEAMQ_NATS_HA_LEAFNODE_PORT=${bases[3]}
}

# --- up ---------------------------------------------------------------------------
export SEAMQ_NATS_HA_UP_TIMEOUT=60
for attempt in 1 2 3; do
  pick_ports
  started=$(date +%s%N)
  if "$script" up >"$root/nats-ha-up-$$.log" 2>&1; then up_ok=1; else up_ok=0; fi
  elapsed_ms=$((($(date +%s%N) - started) / 1000000))
  output=$(cat "$root/nats-ha-up-$$.log")
  rm -f "$root/nats-ha-up-$$.log"
  echo "$output"
  ((up_ok)) && break
  # Another program took a port between the check and the bind: try other ports.
  grep -q "is taken by another program" <<<"$output" || fail "scripts/nats-ha up failed"
  "$script" down >/dev/null 2>&1 || true
  rm -rf "$state"
done
((up_ok)) || fail "scripts/nats-ha up failed three times on fresh ports"
echo "measured: scripts/nats-ha up to a healthy cluster (meta leader, 3 peers current) in ${elapsed_ms} ms"

for n in 1 2 3; do
  pid=$(cat "$state/nats-$n/nats.pid") || fail "nats-$n wrote no PID file"
  kill -0 "$pid" 2>/dev/null || fail "nats-$n (pid $pid) is not running"
  pids+=("$pid")
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline")
  [[ "$cmdline" == "nats-server -c $repo/infra/nats/nats.conf " ]] ||
    fail "nats-$n runs '$cmdline', not infra/nats/nats.conf"
  [[ $(readlink "/proc/$pid/cwd") == "$state/nats-$n" ]] || fail "nats-$n does not run in its state directory"
done

# --- every node's own view, read with a JSON parser (not the script's sed) --------
/usr/bin/python3 - "$SEAMQ_NATS_HA_MONITOR_PORT" "$SEAMQ_NATS_HA_CLIENT_PORT" <<'PY'
import json, sys, urllib.request, urllib.error
monitor, client = int(sys.argv[1]), int(sys.argv[2])
def get(node, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{monitor + node - 1}{path}", timeout=5) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)
leaders, views = set(), {}
for node in (1, 2, 3):
    status, health = get(node, "/healthz")
    assert status == 200 and health == {"status": "ok"}, f"nats-{node} /healthz: {status} {health}"
    _, varz = get(node, "/varz")
    assert varz["server_name"] == f"nats-{node}", varz["server_name"]
    assert varz["port"] == client + node - 1 and varz["host"] == "127.0.0.1", (varz["host"], varz["port"])
    assert varz["cluster"]["name"] == "sea-nats", varz["cluster"]
    assert varz["max_payload"] == 1048576, varz["max_payload"]
    _, jsz = get(node, "/jsz")
    meta = jsz["meta_cluster"]
    assert meta["cluster_size"] == 3, meta
    leaders.add(meta.get("leader", ""))
    views[node] = meta
assert len(leaders) == 1 and "" not in leaders, f"nodes disagree on the meta leader: {leaders}"
leader = leaders.pop()
replicas = views[int(leader.rsplit("-", 1)[1])].get("replicas", [])
names = sorted(r["name"] for r in replicas)
expected = sorted(f"nats-{n}" for n in (1, 2, 3) if f"nats-{n}" != leader)
assert names == expected and all(r["current"] for r in replicas), f"leader {leader} sees {replicas}"
print(f"/jsz: meta leader {leader}; peers current: {leader} (leader), " +
      ", ".join(f"{r['name']}" for r in replicas))
PY

# --- accounts: no client without a user; the made-up passwords let the users in ----
credentials=$state/credentials.env
[[ -f "$credentials" ]] || fail "up wrote no $credentials"
[[ $(stat -c %a "$credentials") == 600 ]] || fail "$credentials is readable by others"
env_output=$("$script" env)
echo "$env_output" | sed 's/:[^:@/]*@/:***@/g'
operator_url=$(sed -n 's/^export SEAMQ_NATS_URL=\([^,]*\),.*/\1/p' <<<"$env_output")
[[ "$operator_url" == nats://operator:*@127.0.0.1:"$SEAMQ_NATS_HA_CLIENT_PORT" ]] ||
  fail "env does not print the operator's URL for node 1"
grep -q "^export SEAMQ_NATS_SERVERS=nats://worker-sea:" <<<"$env_output" || fail "env does not print worker-sea's URLs"
/usr/bin/python3 - "$SEAMQ_NATS_HA_CLIENT_PORT" "$credentials" <<'PY'
import json, socket, sys
port, credentials = int(sys.argv[1]), sys.argv[2]
passwords = dict(line.strip().split("=", 1) for line in open(credentials) if "=" in line)
def hello(user=None, password=None):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        f = s.makefile("rb")
        info = json.loads(f.readline().decode().split(" ", 1)[1])
        connect = {"verbose": False, "pedantic": False}
        if user:
            connect.update(user=user, **{"pass": password})
        s.sendall(("CONNECT " + json.dumps(connect) + "\r\nPING\r\n").encode())
        return info, f.readline().decode().strip()
info, anonymous = hello()
assert info.get("auth_required") is True, info
assert anonymous == "-ERR 'Authorization Violation'", anonymous
_, wrong = hello("operator", passwords["NATS_WORKER_SEA_PASSWORD"])
assert wrong == "-ERR 'Authorization Violation'", wrong
for user in ("operator", "worker-sea", "service-sea", "monitor"):
    _, answer = hello(user, passwords["NATS_" + user.upper().replace("-", "_") + "_PASSWORD"])
    assert answer == "PONG", (user, answer)
print("accounts: anonymous and wrong-password clients refused; operator, worker-sea, service-sea, monitor let in")
PY

# Loopback only: every listening socket of the three processes is on 127.0.0.1 (client,
# monitor, route and the leafnode port cells of a federation connect to).
for pid in "${pids[@]}"; do
  sockets=$(ss -Hltnp | grep "pid=$pid," | awk '{print $4}')
  [[ $(wc -l <<<"$sockets") -eq 4 ]] || fail "pid $pid listens on: $sockets (expected client, monitor, route, leafnode)"
  while read -r address; do
    [[ "$address" == 127.0.0.1:* ]] || fail "pid $pid listens on $address, not loopback"
  done <<<"$sockets"
done

status_output=$("$script" status) || fail "status exits non-zero on a healthy cluster: $status_output"
echo "$status_output"
grep -q "^cluster  healthy: meta leader nats-[123]" <<<"$status_output" ||
  fail "status does not report a healthy cluster"

# --- up again: nothing restarted ---------------------------------------------------
"$script" up >/dev/null
for n in 1 2 3; do
  [[ $(cat "$state/nats-$n/nats.pid") == "${pids[n - 1]}" ]] || fail "second up restarted nats-$n"
done

# --- down: no process left ----------------------------------------------------------
"$script" down
for n in 1 2 3; do
  pid=${pids[n - 1]}
  if kill -0 "$pid" 2>/dev/null; then fail "nats-$n (pid $pid) still runs after down"; fi
  [[ ! -e "$state/nats-$n/nats.pid" ]] || fail "nats-$n PID file left after down"
done
for base in "$SEAMQ_NATS_HA_CLIENT_PORT" "$SEAMQ_NATS_HA_MONITOR_PORT" "$SEAMQ_NATS_HA_CLUSTER_PORT" \
  "$SEAMQ_NATS_HA_LEAFNODE_PORT"; do
  for ((port = base; port < base + 3; port++)); do
    listening "$port" && fail "port $port still listening after down"
  done
done
if "$script" status >/dev/null; then fail "status exits 0 with the cluster down"; fi
echo "down: all three processes gone (pids ${pids[*]}), ports closed"
