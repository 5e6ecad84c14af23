#!/bin/sh
# Fake agent: kills itself with signal $1.
echo "about to die of signal $1"
kill -s "$1" $$
