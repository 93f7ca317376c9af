#!/usr/bin/env bash
# Starts a single-node OpenStack Swift (one replica, tempauth, memcached) on 127.0.0.1 for the
# swift driver's tests.
#
# Usage: servers/swift-up.sh          (stop it again with servers/swift-down.sh)
#
# Swift 2.30.1 comes from Debian's packages (swift swift-proxy swift-account swift-container
# swift-object memcached), installed with apt-get on first use. Rings, server configurations,
# data, logs and PIDs live under target/servers/swift; the only file written elsewhere is
# /etc/swift/swift.conf, which Swift reads its constraints (max_file_size) and hash settings from
# whatever swift_dir says. Each server runs with `workers = 0`, so the PID recorded is the server
# itself. Every start is a fresh, empty cluster. The environment the tests read goes to
# target/servers/swift.env:
#
#   . target/servers/swift.env && cargo test -p wharf-driver-swift
#
# The account is tempauth's `test:tester` / `testing` (a test-only credential, not a secret).
# Environment: SWIFT_PROXY_PORT (default 18080), SWIFT_MEMCACHE_PORT (11311),
# SWIFT_OBJECT_PORT, SWIFT_CONTAINER_PORT, SWIFT_ACCOUNT_PORT (16200, 16201, 16202),
# SWIFT_MAX_FILE_SIZE (default 1048576: a small limit makes "too large, use segments" cheap to
# test; Swift's own default is 5368709122), SWIFT_MAX_MANIFEST_SEGMENTS (default 16, so nested
# manifests are cheap to test; Swift's own default is 1000).
set -euo pipefail

PROXY_PORT=${SWIFT_PROXY_PORT:-18080}
MC_PORT=${SWIFT_MEMCACHE_PORT:-11311}
OBJ_PORT=${SWIFT_OBJECT_PORT:-16200}
CONT_PORT=${SWIFT_CONTAINER_PORT:-16201}
ACCT_PORT=${SWIFT_ACCOUNT_PORT:-16202}
MAX_FILE_SIZE=${SWIFT_MAX_FILE_SIZE:-1048576}
MAX_MANIFEST_SEGMENTS=${SWIFT_MAX_MANIFEST_SEGMENTS:-16}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR="$ROOT/target/servers"
BASE="$DIR/swift"
ETC="$BASE/etc"
RUN="$BASE/run"
LOGS="$BASE/log"
ENV_FILE="$DIR/swift.env"
URL="http://127.0.0.1:$PROXY_PORT"
SERVICES="memcached object container account proxy"

SCRIPT=swift-up
# shellcheck source=servers/lib.sh
. "$ROOT/servers/lib.sh"

write_env() {
  cat > "$ENV_FILE" << ENV
# Written by servers/swift-up.sh: Swift on 127.0.0.1:$PROXY_PORT (tempauth's test account).
export WHARF_SWIFT_AUTHURL=$URL/auth/v1.0
export WHARF_SWIFT_USERNAME=test:tester
export WHARF_SWIFT_PASSWORD=testing
export WHARF_SWIFT_MAXFILESIZE=$(cat "$RUN/max_file_size" 2> /dev/null || echo "$MAX_FILE_SIZE")
export WHARF_SWIFT_MAXMANIFESTSEGMENTS=$(cat "$RUN/max_manifest_segments" 2> /dev/null || echo "$MAX_MANIFEST_SEGMENTS")
ENV
}

# A token from tempauth, or nothing.
token() {
  curl -fsS -m 2 -D - -o /dev/null -H 'X-Auth-User: test:tester' -H 'X-Auth-Key: testing' \
    "$URL/auth/v1.0" 2> /dev/null | tr -d '\r' |
    awk -F': ' 'tolower($1)=="x-auth-token" {print $2}' || true
}

alive() { [ -f "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2> /dev/null; }

all_alive() {
  for s in $SERVICES; do alive "$s" || return 1; done
}

if all_alive; then
  [ -n "$(token)" ] || die "the servers recorded in $RUN are alive but $URL does not authenticate"
  write_env
  say "Swift is already running at $URL (PIDs in $RUN)"
  say "environment: . $ENV_FILE"
  exit 0
fi
for s in $SERVICES; do
  if alive "$s"; then
    die "some Swift servers from an earlier start are still running; stop them with servers/swift-down.sh"
  fi
done
if curl -s -o /dev/null -m 1 "$URL/healthcheck"; then
  die "something else already answers on 127.0.0.1:$PROXY_PORT; stop it or set SWIFT_PROXY_PORT"
fi

# --- install (Debian bookworm: swift 2.30.1) -------------------------------------------------
if ! command -v swift-proxy-server > /dev/null || ! command -v memcached > /dev/null; then
  [ "$(id -u)" = 0 ] || die "Swift is not installed; run this script as root once to install it"
  say "installing Swift from Debian packages (first run only)"
  # Keep the packages' scripts from starting the stock services, for this install only.
  made_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    made_policy=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    swift swift-proxy swift-account swift-container swift-object memcached curl > /dev/null
  if [ -n "$made_policy" ]; then
    rm -f /usr/sbin/policy-rc.d
    trap - EXIT
  fi
fi
command -v curl > /dev/null || die "curl is not installed"
version=$(dpkg-query -W -f '${Version}' swift 2> /dev/null || echo unknown)
case "$version" in
  2.30.1*) ;;
  *) say "warning: Swift $version is installed; the tests were written against 2.30.1" ;;
esac

# --- configuration: a fresh, empty cluster ---------------------------------------------------
rm -rf "$ETC" "$BASE/node" "$RUN" "$LOGS"
mkdir -p "$ETC" "$BASE/node/d1" "$RUN" "$LOGS"
echo "$MAX_FILE_SIZE" > "$RUN/max_file_size"
echo "$MAX_MANIFEST_SEGMENTS" > "$RUN/max_manifest_segments"
cat > "$ETC/swift.conf" << EOF
[swift-hash]
swift_hash_path_suffix = wharf-tests
swift_hash_path_prefix = wharf-tests

[storage-policy:0]
name = Policy-0
default = yes

[swift-constraints]
max_file_size = $MAX_FILE_SIZE
# A listing page of 1000 names (Swift's default is 10 000), so that tests cross pages with a few
# thousand objects; the driver reads it from /info.
container_listing_limit = 1000
EOF
# Swift reads its constraints from /etc/swift/swift.conf whatever swift_dir says.
if ! cmp -s "$ETC/swift.conf" /etc/swift/swift.conf 2> /dev/null; then
  mkdir -p /etc/swift
  cp "$ETC/swift.conf" /etc/swift/swift.conf
fi

common() { # port
  cat << EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $1
workers = 0
user = $(id -un)
swift_dir = $ETC
devices = $BASE/node
mount_check = false
log_name = swift-$2
log_level = INFO
EOF
}
server_conf() { # name port
  common "$2" "$1"
  printf '\n[pipeline:main]\npipeline = %s-server\n\n[app:%s-server]\nuse = egg:swift#%s\n' "$1" "$1" "$1"
}
server_conf object $OBJ_PORT > "$ETC/object-server.conf"
server_conf container $CONT_PORT > "$ETC/container-server.conf"
server_conf account $ACCT_PORT > "$ETC/account-server.conf"
{
  common "$PROXY_PORT" proxy
  cat << EOF

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk tempurl tempauth copy slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
allow_account_management = true

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$MC_PORT
# The default pool (2 connections, 1 s wait) cannot serve a test's burst of concurrent
# requests; once it times out ten times, memcached is shunned for a minute and tempauth fails.
memcache_max_connections = 64
pool_timeout = 10

[filter:tempurl]
use = egg:swift#tempurl
allowed_digests = sha1 sha256 sha512

[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:bulk]
use = egg:swift#bulk
# A bulk delete answers at once and then sends a space every second while it works (the
# default, every 10 s, outlasts the short read timeouts of the fault suite under load).
yield_frequency = 1
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
# A manifest PUT with ?heartbeat=on (the driver's) answers at once and then sends a space every
# second while Swift checks its segments (the default, every 10 s, outlasts the fault suite's
# short read timeouts under load).
yield_frequency = 1
# Small, so that objects above 16 segments (16 MiB with 1 MiB segments) need nested manifests.
max_manifest_segments = $MAX_MANIFEST_SEGMENTS
[filter:dlo]
use = egg:swift#dlo
EOF
} > "$ETC/proxy-server.conf"

# --- rings: 2^8 partitions, one replica, one device ------------------------------------------
ring() { # name port; rebalance exits 1 for warnings, 2 for errors
  swift-ring-builder "$ETC/$1.builder" create 8 1 1 > /dev/null
  swift-ring-builder "$ETC/$1.builder" add "r1z1-127.0.0.1:$2/d1" 1 > /dev/null
  swift-ring-builder "$ETC/$1.builder" rebalance > /dev/null || [ $? -eq 1 ]
}
ring object $OBJ_PORT
ring container $CONT_PORT
ring account $ACCT_PORT

# --- start -----------------------------------------------------------------------------------
memcached -l 127.0.0.1 -p "$MC_PORT" -U 0 -m 64 -u "$(id -un)" > "$LOGS/memcached.log" 2>&1 &
echo $! > "$RUN/memcached.pid"
for s in object container account proxy; do
  "swift-$s-server" "$ETC/$s-server.conf" -v > "$LOGS/$s.log" 2>&1 &
  echo $! > "$RUN/$s.pid"
done

# --- ready when tempauth answers and a container and object round trip works -----------------
for _ in $(seq 1 120); do
  tok=$(token)
  if [ -n "$tok" ] &&
    curl -fsS -m 5 -o /dev/null -X PUT -H "X-Auth-Token: $tok" "$URL/v1/AUTH_test/wharf-ready" 2> /dev/null &&
    curl -fsS -m 5 -o /dev/null -X PUT -H "X-Auth-Token: $tok" --data-binary ok \
      "$URL/v1/AUTH_test/wharf-ready/o" 2> /dev/null; then
    curl -fsS -o /dev/null -X DELETE -H "X-Auth-Token: $tok" "$URL/v1/AUTH_test/wharf-ready/o"
    curl -fsS -o /dev/null -X DELETE -H "X-Auth-Token: $tok" "$URL/v1/AUTH_test/wharf-ready"
    write_env
    say "Swift $version is running at $URL (max_file_size $MAX_FILE_SIZE, max_manifest_segments $MAX_MANIFEST_SEGMENTS; PIDs in $RUN)"
    say "environment: . $ENV_FILE"
    exit 0
  fi
  for s in $SERVICES; do
    if ! alive "$s"; then
      die "$s exited during start-up; its log ($LOGS/$s.log) says: $(tail -n 20 "$LOGS/$s.log")"
    fi
  done
  sleep 0.5
done
die "Swift did not answer at $URL within 60 s (logs in $LOGS); stop it with servers/swift-down.sh"
