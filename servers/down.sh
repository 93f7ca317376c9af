#!/usr/bin/env bash
# Stops every server servers/up.sh started, by the PIDs they recorded (never by name).
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
status=0
for driver in s3 azure gcs swift rados; do
    "$HERE/$driver-down.sh" || status=1
done
exit $status
