#!/bin/sh
# Fake agent: says goodbye, then exits with code $1.
echo "about to exit $1"
exit "$1"
