#!/bin/sh
# Fake agent: leaves sleeping descendants behind: one in its group, one escaped with setsid,
# one orphaned by a double fork. Then, with $1 = "exit", exits 0 at once; with $1 = "wait", it
# sleeps until killed.
. "$(dirname "$0")/lib.sh"
write_pid agent $$
for how in child escaped orphan; do
    start_sleeper "$how" "$how"
    wait_for_pid "$how"
done
echo "descendants started"
touch "$AGENT_DIR/ready"
if [ "$1" = wait ]; then
    while :; do sleep 1; done
fi
