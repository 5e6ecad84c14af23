#!/bin/sh
# Fake agent: prints its stdin (the prompt, in stdin mode).
exec cat
