#!/usr/bin/env python3
"""A Watch subscriber built on the reference varlink implementation (PyPI `varlink`), for soaks.

It follows io.culvert.Manager.Watch, reconnects when the connection ends and resumes from its
last (epoch, seq) — `subscriptions` counts the Watch calls that delivered events —, and checks the stream contract as it goes: within an epoch every event's seq is
the previous one + 1 (a snapshot restarts the position). On SIGTERM, or after --seconds, it writes
a JSON summary to --summary and exits 0.

    watch.py --socket PATH --summary FILE [--seconds N]
"""
import argparse, json, signal, sys, time
import varlink

parser = argparse.ArgumentParser()
parser.add_argument("--socket", required=True)
parser.add_argument("--summary", required=True)
parser.add_argument("--seconds", type=float, default=600)
args = parser.parse_args()

summary = {"events": 0, "snapshots": 0, "subscriptions": 0, "failedAttempts": 0, "gaps": [], "duplicates": [], "errors": [], "kinds": {}}
position = {"epoch": None, "seq": None}
stop = {"now": False}


def finish(*_):
    with open(args.summary, "w") as f:
        json.dump(summary, f)
    sys.exit(0)


signal.signal(signal.SIGTERM, finish)
# A parent may start us with signals blocked (a test runner's worker thread): take SIGTERM.
signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM])
deadline = time.monotonic() + args.seconds

while time.monotonic() < deadline:
    try:
        with varlink.Client(address="unix:" + args.socket) as client:
            with client.open("io.culvert.Manager", namespaced=True) as manager:
                parameters = {}
                if position["epoch"] is not None:
                    parameters = {"since": position["seq"], "epoch": position["epoch"]}
                first = True
                for reply in manager.Watch(_more=True, **parameters):
                    if first:
                        summary["subscriptions"] += 1
                        first = False
                    event = reply.event
                    kind = event.kind
                    summary["events"] += 1
                    summary["kinds"][kind] = summary["kinds"].get(kind, 0) + 1
                    if kind == "snapshot":
                        summary["snapshots"] += 1
                    elif event.epoch == position["epoch"] and position["seq"] is not None:
                        expected = position["seq"] + 1
                        if event.seq > expected:
                            summary["gaps"].append([position["seq"], event.seq])
                        elif event.seq < expected:
                            summary["duplicates"].append(event.seq)
                    position["epoch"] = event.epoch
                    position["seq"] = event.seq
                    if time.monotonic() >= deadline:
                        break
    except (ConnectionError, OSError, BrokenPipeError):
        summary["failedAttempts"] += 1
        time.sleep(0.05)
    except Exception as error:  # a varlink error reply: recorded, then retried like a disconnect
        summary["errors"].append(repr(error)[:200])
        time.sleep(0.05)
finish()
