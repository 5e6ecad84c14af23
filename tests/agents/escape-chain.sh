#!/bin/sh
# Fake agent, and its own descendants. `escape-chain.sh N` records its pid as level-N.pid and,
# above level 0, starts level N-1 in a new session (setsid), so each level is the parent of the
# next and none shares a group with another. Level 3, the agent, exits once all levels run; the
# others sleep.
. "$(dirname "$0")/lib.sh"
level=$1
write_pid "level-$level" $$
if [ "$level" -gt 0 ]; then
    setsid "$0" $((level - 1)) &
fi
if [ "$level" = 3 ]; then
    wait_for_pid level-0
    exit 0
fi
exec sleep 1000
