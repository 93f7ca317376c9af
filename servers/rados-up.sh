#!/usr/bin/env bash
# Starts a single-node Ceph cluster on 127.0.0.1 for the rados driver's tests: one monitor and
# one OSD, no manager, authentication off, and one pool (replica count 1) for the tests.
#
# Usage: servers/rados-up.sh          (stop it again with servers/rados-down.sh)
#
# Ceph 16 (Debian's ceph-mon, ceph-osd, ceph-common) and librados-dev (which the driver links
# against) are installed with apt-get on first use. Everything the cluster keeps lives under
# target/servers/ceph; the daemons' PIDs go to target/servers/rados-mon.pid and rados-osd.pid,
# and the environment the tests read to target/servers/rados.env:
#
#   . target/servers/rados.env && cargo test -p wharf-driver-rados
#
# The OSD keeps its data in a sparse file under target/servers/ceph (bluestore, the default; it
# grows with what is written, up to WHARF_RADOS_BLOCK_BYTES), which also holds the long checks'
# 5 GiB stream. WHARF_RADOS_STORE=memstore keeps it in RAM instead, but Ceph 16's memstore can
# wedge: its fill level goes negative, the OSD engages its "full" failsafe and every write hangs
# (seen on a fresh cluster ten minutes into a CI run), so the tests do not use it.
#
# Environment:
#   WHARF_RADOS_STORE           bluestore (default) or memstore
#   WHARF_RADOS_MEMSTORE_BYTES  memstore capacity (default 2 GiB; RAM is only used as it fills)
#   WHARF_RADOS_BLOCK_BYTES     bluestore block file size (default 16 GiB, sparse)
#   WHARF_RADOS_MON_PORT        the monitor's msgr2 port (default 13300; msgr1 uses 16789)
#   WHARF_RADOS_POOL            the test pool (default wharf)
set -euo pipefail

STORE=${WHARF_RADOS_STORE:-bluestore}
MEMSTORE_BYTES=${WHARF_RADOS_MEMSTORE_BYTES:-2147483648}
BLOCK_BYTES=${WHARF_RADOS_BLOCK_BYTES:-17179869184}
MON_PORT=${WHARF_RADOS_MON_PORT:-13300}
MON_V1_PORT=${WHARF_RADOS_MON_V1_PORT:-16789}
POOL=${WHARF_RADOS_POOL:-wharf}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR="$ROOT/target/servers"
CEPH="$DIR/ceph"
CONF="$CEPH/ceph.conf"
MON_PID="$DIR/rados-mon.pid"
OSD_PID="$DIR/rados-osd.pid"
ENV_FILE="$DIR/rados.env"

say() { echo "rados-up: $*"; }
die() { echo "rados-up: $*" >&2; exit 1; }

case "$STORE" in
  memstore | bluestore) ;;
  *) die "WHARF_RADOS_STORE must be memstore or bluestore, not $STORE" ;;
esac

# Without a manager some `ceph` commands wait forever: every call has a deadline (the daemons'
# one-off mkfs runs too, as they talk to the monitor).
ceph_cli() { timeout "$1" ceph --conf "$CONF" --connect-timeout 20 "${@:2}"; }
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2> /dev/null; }
# A write completes only once the pool's placement groups are active: the readiness probe. The
# probe object is removed again, so the pool starts empty.
pool_answers() {
  echo ready | timeout "$1" rados --conf "$CONF" -p "$POOL" put wharf-ready - 2> /dev/null &&
    timeout "$1" rados --conf "$CONF" -p "$POOL" rm wharf-ready 2> /dev/null
}

write_env() {
  cat > "$ENV_FILE" <<ENV
# Written by servers/rados-up.sh: one Ceph monitor and one $STORE OSD on 127.0.0.1, auth none.
export WHARF_RADOS_CONFFILE=$CONF
export WHARF_RADOS_POOL=$POOL
ENV
}

install() {
  if command -v ceph-mon > /dev/null && command -v ceph-osd > /dev/null &&
    command -v rados > /dev/null && [ -f /usr/include/rados/librados.h ]; then
    return
  fi
  command -v apt-get > /dev/null ||
    die "Ceph is not installed and there is no apt-get: install ceph-mon, ceph-osd, ceph-common and librados-dev"
  say "installing ceph-mon ceph-osd ceph-common librados-dev with apt-get (first run only)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    ceph-mon ceph-osd ceph-common librados-dev > /dev/null
}

install
mkdir -p "$DIR"

if alive "$MON_PID" || alive "$OSD_PID"; then
  alive "$MON_PID" && alive "$OSD_PID" ||
    die "only one of the monitor and the OSD runs; stop it with servers/rados-down.sh and start again"
  running=$(cat "$CEPH/store" 2> /dev/null || echo unknown)
  [ "$running" = "$STORE" ] ||
    die "the running OSD uses $running, not $STORE; stop it with servers/rados-down.sh first"
  pool_answers 30 || die "the cluster runs (PIDs $(cat "$MON_PID"), $(cat "$OSD_PID")) but pool $POOL does not answer"
  write_env
  say "Ceph is already running (monitor PID $(cat "$MON_PID"), OSD PID $(cat "$OSD_PID"), $running)"
  say "environment: . $ENV_FILE"
  exit 0
fi
rm -f "$MON_PID" "$OSD_PID"
if (exec 3<> "/dev/tcp/127.0.0.1/$MON_PORT") 2> /dev/null; then
  die "something already listens on 127.0.0.1:$MON_PORT; stop it or set WHARF_RADOS_MON_PORT"
fi

# A fresh cluster every start: memstore keeps nothing across restarts anyway.
rm -rf "$CEPH"
mkdir -p "$CEPH"/{mon.a,osd.0,run,log,crash}
echo "$STORE" > "$CEPH/store"
FSID=$(cat /proc/sys/kernel/random/uuid)
cat > "$CONF" <<CONF
# Written by servers/rados-up.sh: a single-node test cluster on 127.0.0.1.
[global]
fsid = $FSID
mon host = [v2:127.0.0.1:$MON_PORT,v1:127.0.0.1:$MON_V1_PORT]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon warn on pool no app = false
mon data avail warn = 1
# A test cluster on a large, nearly full disk (a shared CI machine: 2 % free is still GiBs): the
# monitor would otherwise refuse to start below 5 % free, with nothing said but in its log.
mon data avail crit = 0
run dir = $CEPH/run
admin socket = $CEPH/run/\$name.asok
log file = $CEPH/log/\$name.log
mon cluster log file = $CEPH/log/cluster.log
crash dir = $CEPH/crash

[mon.a]
mon data = $CEPH/mon.a

[osd.0]
osd data = $CEPH/osd.0
osd objectstore = $STORE
memstore device bytes = $MEMSTORE_BYTES
bluestore block create = true
bluestore block size = $BLOCK_BYTES
bluestore fsck on mkfs = false
bluestore cache autotune = false
bluestore cache size = 134217728
CONF

say "starting a monitor on 127.0.0.1:$MON_PORT"
monmaptool --create --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON_PORT,v1:127.0.0.1:$MON_V1_PORT]" \
  "$CEPH/monmap" > /dev/null
timeout 120 ceph-mon --conf "$CONF" --mkfs -i a --monmap "$CEPH/monmap" > "$CEPH/log/mon.mkfs.out" 2>&1 ||
  die "ceph-mon --mkfs failed: $(tail -n 20 "$CEPH/log/mon.mkfs.out")"
ceph-mon --conf "$CONF" -i a -f > "$CEPH/log/mon.a.out" 2>&1 &
echo $! > "$MON_PID"
# A fresh monitor on a busy machine (CI starting every other server at once) can take longer than
# one CLI call's 20 s connect deadline to form its quorum of one: ask again while it runs.
mon_answered=
for _ in $(seq 1 8); do
  if ceph_cli 40 mon stat > /dev/null 2>&1; then
    mon_answered=1
    break
  fi
  alive "$MON_PID" || die "the monitor exited during start-up: $(tail -n 20 "$CEPH/log/mon.a.out")"
  sleep 1
done
[ -n "$mon_answered" ] ||
  die "the monitor did not answer in 8 tries of 20 s (log: $CEPH/log/mon.a.log): $(tail -n 20 "$CEPH/log/mon.a.log")"

say "starting a $STORE OSD"
OSD_UUID=$(cat /proc/sys/kernel/random/uuid)
OSD_ID=$(ceph_cli 30 osd new "$OSD_UUID")
[ "$OSD_ID" = 0 ] || die "the monitor gave OSD id $OSD_ID, expected 0"
timeout 300 ceph-osd --conf "$CONF" -i 0 --mkfs --osd-uuid "$OSD_UUID" > "$CEPH/log/osd.mkfs.out" 2>&1 ||
  die "ceph-osd --mkfs failed: $(tail -n 20 "$CEPH/log/osd.mkfs.out")"
ceph-osd --conf "$CONF" -i 0 -f > "$CEPH/log/osd.0.out" 2>&1 &
echo $! > "$OSD_PID"

for _ in $(seq 1 120); do
  ceph_cli 10 osd stat -f json 2> /dev/null | grep -q '"num_up_osds":1,' && break
  alive "$OSD_PID" || die "the OSD exited during start-up: $(tail -n 20 "$CEPH/log/osd.0.out")"
  sleep 0.5
done
ceph_cli 30 osd pool create "$POOL" 8 > /dev/null 2>&1 || true
ceph_cli 30 osd pool application enable "$POOL" rados > /dev/null 2>&1 || true
if pool_answers 90; then
  write_env
  say "Ceph is running (monitor PID $(cat "$MON_PID"), OSD PID $(cat "$OSD_PID"), $STORE) with pool $POOL"
  say "environment: . $ENV_FILE"
  exit 0
fi
die "pool $POOL did not become writable within 90 s (logs: $CEPH/log); stop with servers/rados-down.sh"
