#!/bin/sh
# Fake agent: the last line has no newline.
printf 'first\nsecond\npartial'
