#!/bin/sh
# Fake agent: prints what it was given: environment, working directory, process group, session.
echo "STEWARD_TASK_ID=$STEWARD_TASK_ID"
echo "STEWARD_PROJECT=$STEWARD_PROJECT"
echo "STEWARD_PROMPT_FILE=$STEWARD_PROMPT_FILE"
echo "EXTRA=$EXTRA"
echo "NOTIFY_SOCKET=${NOTIFY_SOCKET-<unset>}"
echo "LISTEN_FDS=${LISTEN_FDS-<unset>}"
echo "PWD=$(pwd -P)"
# /proc/<pid>/stat: pid (comm) state ppid pgrp session ...; the comm has no spaces here.
set -- $(cat /proc/$$/stat)
echo "PID=$1 PGRP=$5 SESSION=$6"
