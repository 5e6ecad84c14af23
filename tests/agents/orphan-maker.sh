#!/bin/sh
# Fake agent: makes a short-lived orphan (re-parented to the shim, which must reap it), then
# waits until $AGENT_DIR/release exists and exits 0.
. "$(dirname "$0")/lib.sh"
( sh -c 'echo $$ > "$AGENT_DIR/orphan.pid.tmp" && mv "$AGENT_DIR/orphan.pid.tmp" "$AGENT_DIR/orphan.pid"' & )
wait_for_pid orphan
echo "orphan made"
while [ ! -e "$AGENT_DIR/release" ]; do sleep 0.01; done
echo "released"
