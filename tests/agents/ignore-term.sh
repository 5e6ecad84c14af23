#!/bin/sh
# Fake agent: ignores SIGTERM (and so do its descendants, which inherit that), with a grandchild
# in its group and an escaped one; runs until SIGKILL.
. "$(dirname "$0")/lib.sh"
trap '' TERM
write_pid agent $$
start_sleeper child child
start_sleeper escaped escaped
wait_for_pid child
wait_for_pid escaped
echo "ignoring SIGTERM"
touch "$AGENT_DIR/ready"
while :; do sleep 1; done
