#!/usr/bin/env python3
"""Event-to-screen latency of culvert-tui (issue 6: "every event is on screen within 100 ms").

Starts a private culvertd and culvert-tui in an 80x24 tmux pane (private tmux server), then N times
saves a profile with culvertctl and polls the pane (tmux capture-pane, every 2 ms) until the new
profile's name is on screen. Reports p50/p90/p99/max of save-reply → on-screen, next to the
baseline of the same poll loop finding text that is already on screen (what the measurement
itself costs). Everything is torn down on exit. Touches no network.

    Benchmarks/tui-latency.py BIN_DIR [COUNT]
"""
import os, shutil, signal, subprocess, sys, tempfile, time

bin_dir = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".build/debug")
count = int(sys.argv[2]) if len(sys.argv) > 2 else 50
work = tempfile.mkdtemp(prefix="culvert-tui-bench.")
socket = os.path.join(work, "run", "io.culvert.Manager")
server = "culvert-bench-%d" % os.getpid()
tmux = ["tmux", "-u", "-L", server]
daemon = None


def cleanup():
    subprocess.run(tmux + ["kill-server"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if daemon and daemon.poll() is None:
        daemon.terminate()
        daemon.wait(timeout=10)
    shutil.rmtree(work, ignore_errors=True)


def screen():
    return subprocess.run(tmux + ["capture-pane", "-p", "-t", "tui"], capture_output=True, text=True).stdout


def wait_for(text, limit=10.0):
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if text in screen():
            return time.monotonic()
        time.sleep(0.002)
    raise SystemExit("timed out waiting for %r on screen" % text)


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


try:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    daemon = subprocess.Popen([os.path.join(bin_dir, "culvertd"), "--state-dir", work + "/state", "--runtime-dir", work + "/run",
                               "--config-dir", work + "/etc"], stderr=subprocess.DEVNULL)
    for _ in range(200):
        if subprocess.run([os.path.join(bin_dir, "culvertctl"), "--socket", socket, "ping"], capture_output=True).returncode == 0:
            break
        time.sleep(0.05)
    env = "NO_COLOR=1 CULVERT_SOCKET=%s" % socket
    subprocess.run(tmux + ["new-session", "-d", "-x", "80", "-y", "24", "-s", "tui", "%s %s" % (env, os.path.join(bin_dir, "culvert-tui"))],
                   check=True, close_fds=True)
    wait_for("live")
    baseline, latency = [], []
    for i in range(count):
        start = time.monotonic()
        wait_for("live")  # already there: the cost of one capture-and-search round
        baseline.append(time.monotonic() - start)
        name = "p%03d" % i
        subprocess.run([os.path.join(bin_dir, "culvertctl"), "--socket", socket, "profile", "add", name, "--extension",
                        "io.culvert.bench"], check=True, capture_output=True)
        replied = time.monotonic()
        latency.append(wait_for(name) - replied)
    ms = lambda v: "%.1f" % (v * 1000)
    print("culvert-tui event-to-screen latency, %d profile saves (80x24, tmux capture-pane every 2 ms)" % count)
    print("  save reply -> on screen: p50 %s ms, p90 %s ms, p99 %s ms, max %s ms" % (
        ms(percentile(latency, 50)), ms(percentile(latency, 90)), ms(percentile(latency, 99)), ms(max(latency))))
    print("  baseline (finding text already on screen): p50 %s ms, p99 %s ms" % (ms(percentile(baseline, 50)), ms(percentile(baseline, 99))))
finally:
    cleanup()
