#!/usr/bin/env python3
"""Whole-process measurements of a steward daemon, for scripts/bench.

Each subcommand measures one thing and prints `steward-bench NAME key=value ...` lines that
scripts/bench turns into its table (and that a person can read as they are). Standard library
only. Timings use time.perf_counter_ns and os.posix_spawn (vfork + exec in glibc), so what is
measured is the child process itself plus about a tenth of a millisecond of spawning: the
`spawn` subcommand run on /bin/true shows that floor on the machine at hand.

  start        `steward daemon start` wall time, and exec-to-first-ping-answer time, N runs
  spawn        wall time of a whole command (e.g. `steward status`), N runs
  idle         VmRSS after start and after idling (and its anonymous part), and CPU used while idle
  connections  VmRSS with K idle client connections open, per connection
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import time

PING = b'{"jsonrpc":"2.0","id":1,"method":"daemon.ping"}\n'


def percentile(values, pct):
    """Nearest-rank percentile, the same definition as the Rust benches use."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -(-len(ordered) * pct // 100)))
    return ordered[int(rank) - 1]


def report(name, values, unit, **extra):
    fields = {"median": percentile(values, 50), "p99": percentile(values, 99),
              "min": min(values), "max": max(values), "n": len(values), "unit": unit, **extra}
    text = " ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items())
    print(f"steward-bench {name} {text}", flush=True)


def spawn(argv):
    """Starts argv in the current directory, without a shell, output to /dev/null; returns the pid."""
    devnull = [(os.POSIX_SPAWN_OPEN, fd, "/dev/null", os.O_RDONLY if fd == 0 else os.O_WRONLY, 0) for fd in (0, 1, 2)]
    env = {k: v for k, v in os.environ.items() if k != "STEWARD_SOCKET"}
    return os.posix_spawn(argv[0], argv, env, file_actions=devnull)


def exit_code(status):
    return os.waitstatus_to_exitcode(status)


def answers_ping(path):
    """True once the socket accepts a connection and answers daemon.ping."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(1.0)
            conn.connect(path)
            conn.sendall(PING)
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = conn.recv(4096)
                if not chunk:
                    return False
                reply += chunk
            return b'"result"' in reply
    except OSError:
        return False


def steward_run(steward, *args):
    return subprocess.run([steward, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env={k: v for k, v in os.environ.items() if k != "STEWARD_SOCKET"})


def cmd_start(args):
    """Starts and stops the daemon N times; times `daemon start` and exec-to-ready."""
    socket_path = args.socket
    returned_ms, ready_ms, stop_ms = [], [], []
    for _ in range(args.runs):
        if answers_ping(socket_path):
            sys.exit(f"a daemon already answers on {socket_path}; stop it first")
        t0 = time.perf_counter_ns()
        pid = spawn([args.steward, "daemon", "start"])
        t_returned = t_ready = None
        status = 0
        # Poll the socket while the start command runs. Sleeping between attempts keeps the
        # probe off the CPU the daemon needs on a 2-core machine; it costs up to that much
        # resolution (0.2 ms against a 15 ms target).
        while t_ready is None or t_returned is None:
            if t_returned is None:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    t_returned = time.perf_counter_ns()
                    if exit_code(status) != 0:
                        sys.exit(f"`steward daemon start` exited {exit_code(status)}; see .steward/daemon/daemon.log")
            if t_ready is None and answers_ping(socket_path):
                t_ready = time.perf_counter_ns()
            if time.perf_counter_ns() - t0 > 10e9:
                sys.exit("the daemon did not answer within 10 s")
            time.sleep(0.0002)
        returned_ms.append((t_returned - t0) / 1e6)
        ready_ms.append((t_ready - t0) / 1e6)
        t_stop = time.perf_counter_ns()
        stopped = steward_run(args.steward, "daemon", "stop")
        stop_ms.append((time.perf_counter_ns() - t_stop) / 1e6)
        if stopped.returncode != 0:
            sys.exit(f"`steward daemon stop` failed: {stopped.stderr}")
    report("start_returns_ms", returned_ms, "ms")
    report("start_exec_to_ready_ms", ready_ms, "ms")
    report("stop_returns_ms", stop_ms, "ms")


def cmd_spawn(args):
    """Times a whole command, N runs after a few unmeasured ones; fails if it fails."""
    times_ms = []
    for i in range(args.warmup + args.runs):
        t0 = time.perf_counter_ns()
        pid = spawn(args.argv)
        _, status = os.waitpid(pid, 0)
        elapsed = (time.perf_counter_ns() - t0) / 1e6
        if exit_code(status) != 0:
            sys.exit(f"{' '.join(args.argv)} exited {exit_code(status)}")
        if i >= args.warmup:
            times_ms.append(elapsed)
    report(args.name, times_ms, "ms")


def vm_rss_kib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} for pid {pid}")


def cpu_ticks(pid):
    """utime + stime of the whole process, in clock ticks."""
    with open(f"/proc/{pid}/stat") as stat:
        # The command name may hold spaces; fields after it are fixed.
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def threads_of(pid):
    return os.listdir(f"/proc/{pid}/task")


def per_thread(pid, read):
    """{tid: value} for the threads alive now; a thread gone meanwhile is skipped."""
    values = {}
    for tid in threads_of(pid):
        try:
            values[tid] = read(pid, tid)
        except FileNotFoundError:
            pass
    return values


def thread_on_cpu_ns(pid, tid):
    with open(f"/proc/{pid}/task/{tid}/schedstat") as stat:
        return int(stat.read().split()[0])


def thread_switches(pid, tid):
    """Voluntary + involuntary switches: each is a wake-up."""
    total = 0
    with open(f"/proc/{pid}/task/{tid}/status") as status:
        for line in status:
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                total += int(line.split()[1])
    return total


def growth(before, after):
    """What the threads alive at the end did since the start (a new thread counts from zero).
    A thread that exited during the window (an idle blocking-pool thread does, after 10 s)
    takes its counters with it; summing over threads would then go negative, so it is left out."""
    return sum(value - before.get(tid, 0) for tid, value in after.items())


def cmd_idle(args):
    """RSS right after start and after idling; CPU over an idle window."""
    pid = args.pid
    rss_start = vm_rss_kib(pid)
    time.sleep(args.settle)
    rss_idle = vm_rss_kib(pid)
    # The part of RSS that is the daemon's alone (heap, stacks, relocated tables); the rest is
    # pages of the binary and libraries, shared with every process that maps them.
    anon_idle = vm_rss_kib(pid, "RssAnon")
    tick_hz = os.sysconf("SC_CLK_TCK")
    ticks0, t0 = cpu_ticks(pid), time.monotonic()
    ns0, switches0 = per_thread(pid, thread_on_cpu_ns), per_thread(pid, thread_switches)
    time.sleep(args.window)
    ticks1, t1 = cpu_ticks(pid), time.monotonic()
    ns1, switches1 = per_thread(pid, thread_on_cpu_ns), per_thread(pid, thread_switches)
    wall = t1 - t0
    print(f"steward-bench idle_rss_mib start={rss_start / 1024:.2f} after_idle={rss_idle / 1024:.2f} "
          f"anon_after_idle={anon_idle / 1024:.2f} idle_s={args.settle:g} unit=MiB threads={len(threads_of(pid))}")
    print(f"steward-bench idle_cpu_pct ticks={100 * (ticks1 - ticks0) / tick_hz / wall:.3f} "
          f"schedstat={100 * growth(ns0, ns1) / 1e9 / wall:.4f} wakeups_per_s={growth(switches0, switches1) / wall:.2f} "
          f"window_s={wall:.1f} tick_ms={1000 / tick_hz:g} unit=%")


def cmd_connections(args):
    """RSS with K connections open and idle: first only connected, then after one call each."""
    pid = args.pid
    before = vm_rss_kib(pid)
    conns = []
    try:
        for _ in range(args.count):
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            conn.settimeout(5.0)
            conn.connect(args.socket)
            conns.append(conn)
        time.sleep(args.settle)
        connected = vm_rss_kib(pid)
        # One call on each proves the daemon admitted it, and shows what a used connection keeps.
        for conn in conns:
            conn.sendall(PING)
        for conn in conns:
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = conn.recv(4096)
                if not chunk:
                    sys.exit("the daemon closed a connection (connection limit?)")
                reply += chunk
            if b'"result"' not in reply:
                sys.exit(f"unexpected reply: {reply[:200]!r}")
        time.sleep(args.settle)
        used = vm_rss_kib(pid)
    finally:
        for conn in conns:
            conn.close()
    time.sleep(args.settle)
    closed = vm_rss_kib(pid)
    print(f"steward-bench connections_rss count={args.count} before_kib={before} connected_kib={connected} "
          f"after_one_call_kib={used} closed_kib={closed} per_connection_kib={(used - before) / args.count:.2f} "
          f"per_connection_connected_only_kib={(connected - before) / args.count:.2f} unit=KiB")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    start = sub.add_parser("start", help="daemon start latency; run in the project directory")
    start.add_argument("--steward", required=True, help="the steward binary")
    start.add_argument("--socket", required=True, help="the socket the daemon will listen on")
    start.add_argument("--runs", type=int, default=20)
    start.set_defaults(run=cmd_start)

    timed = sub.add_parser("spawn", help="whole-process time of a command; run in the project directory")
    timed.add_argument("--name", required=True, help="the figure's name")
    timed.add_argument("--runs", type=int, default=200)
    timed.add_argument("--warmup", type=int, default=10)
    timed.add_argument("argv", nargs="+", help="the command (absolute path first)")
    timed.set_defaults(run=cmd_spawn)

    idle = sub.add_parser("idle", help="idle RSS and CPU of a running daemon")
    idle.add_argument("--pid", type=int, required=True)
    idle.add_argument("--settle", type=float, default=5.0, help="seconds idle before the second RSS reading")
    idle.add_argument("--window", type=float, default=10.0, help="seconds of idle CPU measured")
    idle.set_defaults(run=cmd_idle)

    conns = sub.add_parser("connections", help="RSS cost of idle connections")
    conns.add_argument("--pid", type=int, required=True)
    conns.add_argument("--socket", required=True)
    conns.add_argument("--count", type=int, default=300)
    conns.add_argument("--settle", type=float, default=0.5)
    conns.set_defaults(run=cmd_connections)

    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
