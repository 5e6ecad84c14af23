#!/bin/sh
# Fake agent: writes a line into the file $1 (relative to the project, its working directory),
# the way an agent that edits the tree does.
mkdir -p "$(dirname "$1")"
echo "written by task $STEWARD_TASK_ID" >> "$1"
