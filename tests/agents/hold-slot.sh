#!/bin/sh
# Fake agent: marks itself running in $AGENT_DIR/running/, records how many were running at
# once in $AGENT_DIR/peak (the highest count it saw), and holds its slot until
# $AGENT_DIR/release exists.
mkdir -p "$AGENT_DIR/running"
touch "$AGENT_DIR/running/$$"
count=$(ls "$AGENT_DIR/running" | wc -l)
echo "$count" >> "$AGENT_DIR/peak"
while [ ! -e "$AGENT_DIR/release" ]; do sleep 0.01; done
rm -f "$AGENT_DIR/running/$$"
