#!/bin/sh
# Fake agent: appends its prompt (read from stdin) as one line to $AGENT_DIR/order.
prompt=$(cat)
echo "$prompt" >> "$AGENT_DIR/order"
echo "ran: $prompt"
