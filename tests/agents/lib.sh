# Shared by the fake agents (sourced, not run). $AGENT_DIR is where they leave pid files.

# write_pid NAME PID: NAME.pid appears whole, never half-written.
write_pid() {
    echo "$2" > "$AGENT_DIR/$1.pid.tmp" && mv "$AGENT_DIR/$1.pid.tmp" "$AGENT_DIR/$1.pid"
}

# start_sleeper NAME HOW: starts a process that records its pid as NAME.pid and sleeps.
# HOW: "child" (in the agent's group), "escaped" (setsid: a new session and group),
# "orphan" (double fork: its parent exits at once, so it is re-parented).
start_sleeper() {
    script='echo $$ > "$AGENT_DIR/'"$1"'.pid.tmp" && mv "$AGENT_DIR/'"$1"'.pid.tmp" "$AGENT_DIR/'"$1"'.pid"; exec sleep 1000'
    case "$2" in
        child) sh -c "$script" & ;;
        escaped) setsid sh -c "$script" & ;;
        orphan) ( sh -c "$script" & ) ;;
    esac
}

# wait_for_pid NAME: until NAME.pid exists.
wait_for_pid() {
    while [ ! -e "$AGENT_DIR/$1.pid" ]; do sleep 0.01; done
}
