#!/usr/bin/env bash
# ctest infra.federation_local: scripts/federation brings up a hub and two cells (three
# 3-node clusters from infra/nats/nats.conf) on free loopback ports: each cluster has
# its own JetStream domain and meta leader, every cell node has one leafnode link to
# the hub bound to account SEAMQ (/leafz, the connectivity check of the runbooks), the
# hub counts six, everything listens on 127.0.0.1 only, `status` says healthy, `up`
# again restarts nothing, and `down` leaves no process behind (by the PIDs written).
#   tests/infra/federation_itest.sh REPO_ROOT TEST_ROOT
set -euo pipefail
repo=${1:?usage: federation_itest.sh REPO_ROOT TEST_ROOT}
root=${2:?usage: federation_itest.sh REPO_ROOT TEST_ROOT}
script=$repo/scripts/federation
export SEAMQ_FEDERATION_DIR=$root/federation-$$
state=$SEAMQ_FEDERATION_DIR
clusters=(hub cell-a cell-b)
pids=()

fail() { echo "FAIL: $*" >&2; exit 1; }

cleanup() {
  local rc=$?
  "$script" down >/dev/null 2>&1 || true
  local pid
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  if ((rc != 0)); then
    for log in "$state"/*/nats.log; do
      [[ -f "$log" ]] && { echo "--- $log (last lines)" >&2; tail -8 "$log" >&2; }
    done
  fi
  rm -rf "$state"
  exit $rc
}
trap cleanup EXIT

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
ports_of() { local b=$1 k; for k in 0 100 200 300; do seq $((b + k)) $((b + k + 8)); done; }

pick_base() {
  local attempt base port ok
  for ((attempt = 0; attempt < 100; attempt++)); do
    base=$((20000 + (RANDOM % 900) * 10))
    ok=1
    for port in $(ports_of "$base"); do listening "$port" && { ok=0; break; }; done
    ((ok)) && { export SEAMQ_FEDERATION_PORT=$base; return; }
  done
  fail "no free ports found"
}

export SEAMQ_FEDERATION_UP_TIMEOUT=90
for attempt in 1 2 3; do
  pick_base
  started=$(date +%s%N)
  if output=$("$script" up 2>&1); then up_ok=1; else up_ok=0; fi
  elapsed_ms=$((($(date +%s%N) - started) / 1000000))
  echo "$output"
  ((up_ok)) && break
  grep -q "is taken by another program" <<<"$output" || fail "scripts/federation up failed"
  "$script" down >/dev/null 2>&1 || true
  rm -rf "$state"
done
((up_ok)) || fail "scripts/federation up failed three times on fresh ports"
echo "measured: scripts/federation up to three healthy clusters with six leafnode links in ${elapsed_ms} ms"

for c in "${clusters[@]}"; do
  for n in 1 2 3; do
    pid=$(cat "$state/$c-$n/nats.pid") || fail "$c-$n wrote no PID file"
    kill -0 "$pid" 2>/dev/null || fail "$c-$n (pid $pid) is not running"
    pids+=("$pid")
    [[ $(tr '\0' ' ' <"/proc/$pid/cmdline") == "nats-server -c $repo/infra/nats/nats.conf " ]] ||
      fail "$c-$n does not run infra/nats/nats.conf"
  done
done

# What each node's monitor says: domain, meta leader, leafnode links and their account.
/usr/bin/python3 - "$SEAMQ_FEDERATION_PORT" <<'PY'
import json, sys, urllib.request
import time
# Links can move between hub nodes for a moment after start: retried for up to 10 s.
def check():
    out = []
    base = int(sys.argv[1])
    def get(index, path):
        with urllib.request.urlopen(f"http://127.0.0.1:{base + 100 + index}{path}", timeout=5) as r:
            return json.load(r)
    hub_links = 0
    for c, cluster in enumerate(("hub", "cell-a", "cell-b")):
        leaders = set()
        for n in range(3):
            index = c * 3 + n
            jsz = get(index, "/jsz")
            assert jsz["config"]["domain"] == cluster, (cluster, n, jsz["config"].get("domain"))
            leaders.add(jsz["meta_cluster"].get("leader"))
            assert jsz["meta_cluster"]["name"] == ("sea-nats" if cluster == "hub" else cluster), jsz["meta_cluster"]
            leafz = get(index, "/leafz")
            if cluster == "hub":
                hub_links += leafz["leafnodes"]
                for leaf in leafz.get("leafs") or []:
                    assert leaf["account"] == "FEDERATION", leaf
            else:
                assert leafz["leafnodes"] == 1, (cluster, n, leafz)
                leaf = leafz["leafs"][0]
                assert leaf["account"] == "SEAMQ" and leaf["ip"] == "127.0.0.1", leaf
                assert base + 300 <= leaf["port"] <= base + 302, leaf  # one of the hub's leafnode ports
        assert len(leaders) == 1 and None not in leaders, (cluster, leaders)
        out.append(f"{cluster}: domain {cluster}, meta leader {leaders.pop()}")
    assert hub_links == 6, hub_links
    out.append("leafz: every cell node linked to the hub as account SEAMQ; the hub holds 6 links in account FEDERATION")
    return out
deadline = time.monotonic() + 10
while True:
    try:
        lines = check()
        break
    except (AssertionError, KeyError, TypeError) as problem:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.5)
print("\n".join(lines))
PY

for pid in "${pids[@]}"; do
  sockets=$(ss -Hltnp | grep "pid=$pid," | awk '{print $4}')
  [[ $(wc -l <<<"$sockets") -eq 4 ]] || fail "pid $pid listens on: $sockets (expected client, monitor, route, leafnode)"
  while read -r address; do
    [[ "$address" == 127.0.0.1:* ]] || fail "pid $pid listens on $address, not loopback"
  done <<<"$sockets"
done

status_output=$("$script" status) || fail "status exits non-zero on a healthy federation: $status_output"
grep -q "^hub  6 leafnode links" <<<"$status_output" || fail "status does not count 6 links: $status_output"
for c in "${clusters[@]}"; do grep -q "^$c  healthy" <<<"$status_output" || fail "status: $c not healthy"; done

"$script" up >/dev/null
i=0
for c in "${clusters[@]}"; do
  for n in 1 2 3; do
    [[ $(cat "$state/$c-$n/nats.pid") == "${pids[i]}" ]] || fail "second up restarted $c-$n"
    i=$((i + 1))
  done
done

"$script" down
for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && fail "pid $pid still runs after down"; done
for port in $(ports_of "$SEAMQ_FEDERATION_PORT"); do listening "$port" && fail "port $port still listening"; done
if "$script" status >/dev/null; then fail "status exits 0 with the federation down"; fi
echo "down: all nine processes gone, ports closed"
