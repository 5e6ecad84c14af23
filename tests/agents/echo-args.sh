#!/bin/sh
# Fake agent: prints each argument on a line (the prompt is the last one, in arg mode).
printf '%s\n' "$@"
