#!/bin/sh
# Fake agent: on SIGTERM says so and exits 5.
trap 'echo "got SIGTERM"; exit 5' TERM
echo "waiting"
touch "$AGENT_DIR/ready"
while :; do sleep 1; done
