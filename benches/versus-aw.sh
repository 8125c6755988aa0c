#!/usr/bin/env bash
# Our reference server and ActivityWatch's aw-server-rust side by side:
# both on fresh SQLite databases, driven over HTTP by the `versus_aw`
# example through the same workload, taking turns; then each database's
# bytes per stored event and each server's anonymous memory.
#
#   benches/versus-aw.sh AW_SERVER_BINARY [versus_aw flags, e.g. --seconds 5]
#
# AW_SERVER_BINARY is aw-server-rust's `aw-server`, built from its public
# repository on this machine (`cargo build --release --bin aw-server`);
# nothing of it is kept in this repository.
set -euo pipefail
if [ $# -lt 1 ] || [ ! -x "$1" ]; then
    echo "usage: $0 AW_SERVER_BINARY [versus_aw flags]" >&2
    exit 2
fi
aw_bin=$(realpath "$1")
shift
cd "$(dirname "$0")/.."
root=$(pwd)
ours_port=${VERSUS_PORT:-18200}
aw_port=$((ours_port + 1))

cargo build --release --quiet --example reference_server --example versus_aw

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

(
    cd "$work"
    TRACKER_OWNER_PASSWORD=versus-owner-password exec "$root/target/release/examples/reference_server" \
        --bind "127.0.0.1:$ours_port" --rate-per-ip 0 --rate-per-company-key 0 \
        --max-event-age-days 40 >"$work/ours.log" 2>&1
) &
pids+=($!)
ours_pid=$!
(
    cd "$work"
    HOME="$work" exec "$aw_bin" --port "$aw_port" --dbpath "$work/aw.db" --no-legacy-import \
        >"$work/aw.log" 2>&1
) &
pids+=($!)
aw_pid=$!
for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$ours_port/healthz" >/dev/null 2>&1 &&
        curl -sf "http://127.0.0.1:$aw_port/api/0/info" >/dev/null 2>&1 && break
    sleep 0.2
done

echo "# $(date -u +%F), $(nproc) cores, $(uname -m); aw-server-rust $(cd "$(dirname "$aw_bin")" && git rev-parse --short HEAD 2>/dev/null || echo '(commit unknown)')"
TRACKER_OWNER_PASSWORD=versus-owner-password "$root/target/release/examples/versus_aw" \
    --tracker "http://127.0.0.1:$ours_port" --aw "http://127.0.0.1:$aw_port" \
    --cache "$work/agents.json" "$@"

# Bytes on disk per stored event, with each database checkpointed first.
python3 - "$work/tracker.db" "$work/aw.db" <<'EOF'
import os, sqlite3, sys
def per_event(path, table):
    db = sqlite3.connect(path, timeout=30)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    n = db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    db.close()
    size = sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))
    return size, n
ours, theirs = per_event(sys.argv[1], "activity_events"), per_event(sys.argv[2], "events")
b = lambda s, n: s / max(n, 1)
print(f"| bytes on disk per stored event ({ours[1]:,} ours, {theirs[1]:,} aw) | "
      f"{b(*theirs):.0f} | {b(*ours):.0f} | {b(*ours) / b(*theirs):.2f} |")
EOF
anon() { awk '/^RssAnon/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
echo "| server memory after the run (anonymous, MiB) | $(anon "$aw_pid") | $(anon "$ours_pid") | |"
