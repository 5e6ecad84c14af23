#!/bin/sh
# Fake agent: writes a lot of output fast. `flood.sh yes BYTES`: "y\n" repeated, BYTES in all;
# `flood.sh seq N`: the numbers 1 to N, one a line.
case "$1" in
    yes) yes | head -c "$2" ;;
    seq) seq 1 "$2" ;;
esac
