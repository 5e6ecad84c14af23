#!/bin/sh
# Fake agent: prints a line, then waits until $AGENT_DIR/release exists.
echo "first line"
while [ ! -e "$AGENT_DIR/release" ]; do sleep 0.01; done
echo "last line"
