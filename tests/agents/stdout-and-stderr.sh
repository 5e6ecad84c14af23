#!/bin/sh
# Fake agent: alternates between stdout and stderr.
echo out1
echo err1 >&2
echo out2
echo err2 >&2
