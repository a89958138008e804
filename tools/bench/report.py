#!/usr/bin/env python3
"""The side-by-side benchmark report: every figure measured in one run on one machine.

Steps (each one's raw JSON is kept in report.json, every number of report.md comes from it):

  machine      nproc, CPU model, memory, Debian, kernel, Swift, RabbitMQ, Python, date, commit
  policy       tollgate-bench policy --json against benchmarks/reference_policy_bench.py --json
               (agent-os-kernel 3.7.0's PolicyEvaluator) on the seed policy and on 1,000 rules
  e2e          tollgate-bench worker --json (the relay ceiling and the in-process worker, one run),
               then one `tollgate worker` process, the Python gate (benchmarks/python_gate.py) with
               SelectConnection and with BlockingConnection, all three under the same load
               generator (tollgate-bench load), and the Python gate under its own Python load
               generator (python_gate.py bench)
  scaling      1, 2 and 3 `tollgate worker` processes on one prefix and one broker, driven by
               tollgate-bench load, CPU and resident memory of each process
  escalations  tollgate-bench escalations --json: parked/s, final decisions/s, vote -> final
               latency and timeouts/s against the backlog of pending escalations

  tools/bench/report.py --mode short --out var/bench      (deploy/bench-report.sh --short)
  tools/bench/report.py --mode full --out docs/bench      (deploy/bench-report.sh)
  tools/bench/report.py --mode short --steps policy,e2e   (some steps only)

Needs the release build (.build/release/tollgate-bench and .build/release/tollgate), a broker on
127.0.0.1 with the test users (deploy/broker-users.sh), and pika, matplotlib and
agent-os-kernel==3.7.0 in the Python that runs it (deploy/bench-report.sh sets that up).
"""

import argparse
import datetime
import json
import os
import platform
import random
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import pika
import pika.exceptions

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BENCH = ".build/release/tollgate-bench"
TOLLGATE = ".build/release/tollgate"
POLICY = "policies/approval-workflow.yaml"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
STEPS = ("policy", "e2e", "scaling", "escalations")
# The Python that runs this (the virtual environment's), as the commands quote it.
PYTHON = os.path.relpath(sys.executable, ROOT) if sys.executable.startswith(ROOT + os.sep) else sys.executable

SIZES = {
    "short": {
        "policy_iterations": 1_000_000, "policy_repeats": 3, "reference_seconds": 1, "reference_repeats": 2,
        "worker_messages": 30_000, "worker_warmup": 3_000, "worker_runs": 1,
        "load_messages": 15_000, "load_warmup": 1_500, "e2e_runs": 1, "blocking_messages": 5_000,
        "scale_messages": 30_000, "scale_warmup": 3_000, "scale_runs": 1,
        "pending": "0,100000", "park": 5_000, "latency_votes": 1_000, "calls": 10_000,
        "timeouts": 1_000, "timeout_seconds": 5,
    },
    "full": {
        "policy_iterations": 5_000_000, "policy_repeats": 5, "reference_seconds": 2, "reference_repeats": 3,
        "worker_messages": 100_000, "worker_warmup": 10_000, "worker_runs": 3,
        "load_messages": 50_000, "load_warmup": 5_000, "e2e_runs": 3, "blocking_messages": 20_000,
        "scale_messages": 100_000, "scale_warmup": 10_000, "scale_runs": 3,
        "pending": "0,100000,1000000", "park": 20_000, "latency_votes": 5_000, "calls": 50_000,
        "timeouts": 5_000, "timeout_seconds": 10,
    },
}


def say(text):
    print("bench-report: %s" % text, file=sys.stderr, flush=True)


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Report:
    """The raw results, written to report.json after every step."""

    def __init__(self, out, mode):
        self.out, self.mode = out, mode
        self.data = {"mode": mode, "sizes": SIZES[mode], "started": now_utc(), "commands": [], "steps": {}}

    def save(self):
        with open(os.path.join(self.out, "report.json"), "w") as f:
            json.dump(self.data, f, indent=1, sort_keys=True)
            f.write("\n")

    def run(self, step, cmd, label, timeout=3600):
        """Runs `cmd` from the repository root; returns the JSON object of its last line."""
        text = shlex.join(cmd)
        say("%s, %s: %s" % (step, label, text))
        started = time.monotonic()
        load = os.getloadavg()[0]
        p = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=timeout)
        seconds = time.monotonic() - started
        self.data["commands"].append({"step": step, "label": label, "command": text, "seconds": round(seconds, 1),
                                      "load_average_before": round(load, 2), "exit": p.returncode})
        lines = [line for line in p.stdout.splitlines() if line.startswith("{")]
        if p.returncode != 0 or not lines:
            sys.stderr.write(p.stdout[-3000:] + p.stderr[-3000:])
            raise SystemExit("bench-report: %s failed (exit %d): %s" % (step, p.returncode, text))
        return json.loads(lines[-1])


# ---------------------------------------------------------------- the machine

def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def output(cmd):
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
        return p.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def dpkg_version(package):
    return output(["dpkg-query", "-W", "-f=${Version}", package]) or None


def machine():
    cpuinfo = read("/proc/cpuinfo")
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")),
                 platform.processor() or "?")
    mhz = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("cpu MHz")), None)
    mem_kib = next((int(line.split()[1]) for line in read("/proc/meminfo").splitlines()
                    if line.startswith("MemTotal:")), 0)
    os_release = dict(line.split("=", 1) for line in read("/etc/os-release").splitlines() if "=" in line)
    from importlib.metadata import version
    versions = {}
    for dist in ("pika", "matplotlib", "agent-os-kernel"):
        try:
            versions[dist] = version(dist)
        except Exception:
            versions[dist] = None
    status = output(["git", "-C", ROOT, "status", "--short", "--untracked-files=no"])
    try:
        conn = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
        rabbitmq = conn._impl.server_properties.get("version")
        conn.close()
        rabbitmq = rabbitmq.decode() if isinstance(rabbitmq, bytes) else rabbitmq
    except pika.exceptions.AMQPError:
        rabbitmq = None
    return {
        "nproc": output(["nproc"]), "cpu_model": model, "cpu_mhz": mhz,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "debian": read("/etc/debian_version").strip() or None,
        "os": os_release.get("PRETTY_NAME", "").strip('"') or None,
        "kernel": platform.release(),
        "swift": (output(["swift", "--version"]).splitlines() or [None])[0],
        "rabbitmq": rabbitmq, "rabbitmq_package": dpkg_version("rabbitmq-server"), "erlang_package": dpkg_version("erlang-base"),
        "sqlite_package": dpkg_version("libsqlite3-0"), "librabbitmq_package": dpkg_version("librabbitmq4"),
        "python": platform.python_version(), "packages": versions,
        "commit": output(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]),
        "uncommitted_files": len(status.splitlines()) if status else 0,
        "date": now_utc(), "load_average": [round(x, 2) for x in os.getloadavg()],
    }


# ---------------------------------------------------------------- processes and topology

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def delete_topology(prefix, worker_ids=(), queues=(), exchanges=None):
    """Deletes what a fleet on `prefix` declared (each deletion on a channel of its own: a 404
    closes the channel)."""
    names = [q for w in worker_ids for q in ("%s.toolcalls.%s" % (prefix, w), "%s.approvals.%s" % (prefix, w),
                                            "%s.owner.%s" % (prefix, w))]
    names += ["%s.dead" % prefix] if worker_ids else []
    names += list(queues)
    if exchanges is None:
        exchanges = ["toolcalls", "approvals", "escalations", "decisions", "dead", "control"]
    try:
        conn = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    except pika.exceptions.AMQPError as e:
        say("could not clean up %s: %s" % (prefix, e))
        return
    for kind, name in [("queue", n) for n in names] + [("exchange", "%s.%s" % (prefix, e)) for e in exchanges]:
        try:
            ch = conn.channel()
            if kind == "queue":
                ch.queue_delete(name)
            else:
                ch.exchange_delete(name)
            ch.close()
        except pika.exceptions.AMQPError:
            pass
    conn.close()


class Workers:
    """N `tollgate worker` processes on one prefix, each with its worker id, database and port."""

    def __init__(self, count, folder):
        self.prefix = "tgreport%08x" % random.getrandbits(32)
        self.ids = ["r%d" % (i + 1) for i in range(count)]
        self.folder = folder
        self.processes, self.commands = [], []
        for w in self.ids:
            port = free_port()
            cmd = [TOLLGATE, "worker", "--policy", POLICY, "--prefix", self.prefix, "--worker-id", w,
                   "--db", os.path.join(folder, "%s.db" % w), "--metrics-port", str(port),
                   "--metrics-address", "127.0.0.1", "--log-format", "text"]
            log = open(os.path.join(folder, "%s.log" % w), "a")
            self.processes.append((subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT), port))
            self.commands.append(shlex.join(cmd).replace(folder, "$TMP").replace(self.prefix, "$PREFIX")
                                 .replace("--metrics-port %d" % port, "--metrics-port $PORT"))
        for (p, port), w in zip(self.processes, self.ids):
            self.wait_ready(p, port, w)
        # A worker joining the ring holds its calls for --join-settle-ms (3 s by default) while the
        # others hand it budgets and call records: measure after that.
        time.sleep(3.5)

    def wait_ready(self, p, port, w):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if p.poll() is not None:
                raise SystemExit("bench-report: worker %s exited (%d); log %s/%s.log" % (w, p.returncode,
                                                                                         self.folder, w))
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/readyz" % port, timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise SystemExit("bench-report: worker %s not ready within 60 s" % w)

    @property
    def pids(self):
        return [p.pid for p, _ in self.processes]

    def stop(self):
        for p, _ in self.processes:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p, _ in self.processes:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        delete_topology(self.prefix, self.ids)


class PythonGate:
    """benchmarks/python_gate.py serve on a prefix of its own."""

    def __init__(self, connection):
        self.prefix = "pygate%08x" % random.getrandbits(32)
        cmd = [PYTHON, "benchmarks/python_gate.py", "serve", "--prefix", self.prefix,
               "--connection", connection]
        self.command = shlex.join(cmd)
        self.process = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline().strip()
        if line != "ready":
            raise SystemExit("bench-report: the Python gate did not start (%r)" % line)

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        delete_topology(self.prefix, queues=["%s.toolcalls.py" % self.prefix], exchanges=["toolcalls"])


def load_command(prefix, messages, warmup, tag, pids):
    cmd = [BENCH, "load", "--prefix", prefix, "--messages", str(messages), "--warmup", str(warmup), "--tag", tag]
    for pid in pids:
        cmd += ["--pid", str(pid)]
    return cmd + ["--json"]


def quoted(cmd, prefix=None, pids=()):
    """The command as the report quotes it: the random prefix and pids as placeholders."""
    text = shlex.join(cmd)
    if prefix:
        text = text.replace(prefix, "$PREFIX")
    for pid in pids:
        text = text.replace("--pid %d" % pid, "--pid $PID")
    return text


# ---------------------------------------------------------------- the steps

def step_policy(report, s):
    tollgate = report.run("policy", [BENCH, "policy", "--iterations", str(s["policy_iterations"]), "--repeats",
                                     str(s["policy_repeats"]), "--seed-policy", POLICY, "--json"],
                          "Tollgate's policy engine")
    reference = report.run("policy", [PYTHON, "-W", "ignore", "benchmarks/reference_policy_bench.py",
                                      "--seconds", str(s["reference_seconds"]), "--repeats",
                                      str(s["reference_repeats"]), "--json"], "agent-os PolicyEvaluator")
    return {"tollgate": tollgate, "reference": reference}


def step_e2e(report, s, folder):
    """The relay and the in-process worker, then a worker process and the Python gate in turn
    (both running, one loaded at a time), then the blocking gate, then the gate's own load."""
    out = {}
    out["worker_bench"] = report.run("e2e", [
        BENCH, "worker", "--messages", str(s["worker_messages"]), "--warmup", str(s["worker_warmup"]),
        "--runs", str(s["worker_runs"]), "--durability", "full", "--decision-feed", "batch", "--json"],
        "relay ceiling and in-process worker")
    m, w = s["load_messages"], s["load_warmup"]
    out["worker_process"], out["python_select"] = [], []
    workers = Workers(1, folder)
    try:
        gate = PythonGate("select")
        try:
            for r in range(s["e2e_runs"]):
                cmd = load_command(workers.prefix, m, w, "e2e%d" % r, workers.pids)
                result = report.run("e2e", cmd, "one tollgate worker process, run %d" % (r + 1))
                result["quoted"] = {"worker": workers.commands, "load": quoted(cmd, workers.prefix, workers.pids)}
                out["worker_process"].append(result)
                cmd = load_command(gate.prefix, m, w, "e2e%d" % r, [gate.process.pid])
                result = report.run("e2e", cmd, "Python gate, select, run %d" % (r + 1))
                result["quoted"] = {"gate": gate.command.replace(gate.prefix, "$PREFIX"),
                                    "load": quoted(cmd, gate.prefix, [gate.process.pid])}
                out["python_select"].append(result)
        finally:
            gate.stop()
    finally:
        workers.stop()
    gate = PythonGate("blocking")
    try:
        cmd = load_command(gate.prefix, s["blocking_messages"], w, "e2e", [gate.process.pid])
        result = report.run("e2e", cmd, "Python gate, blocking")
        result["quoted"] = {"gate": gate.command.replace(gate.prefix, "$PREFIX"),
                            "load": quoted(cmd, gate.prefix, [gate.process.pid])}
        out["python_blocking"] = [result]
    finally:
        gate.stop()
    out["python_own_load"] = [report.run("e2e", [
        PYTHON, "benchmarks/python_gate.py", "bench", "--messages", str(m), "--warmup", str(w),
        "--connection", "select", "--json"], "Python gate, select, its own load generator")]
    return out


def step_scaling(report, s, folder):
    out = {"runs": {}}
    for n in (1, 2, 3):
        sub = os.path.join(folder, "scale%d" % n)
        os.makedirs(sub)
        workers = Workers(n, sub)
        try:
            results = []
            for r in range(s["scale_runs"]):
                cmd = load_command(workers.prefix, s["scale_messages"], s["scale_warmup"], "s%d" % r, workers.pids)
                result = report.run("scaling", cmd, "%d worker process%s, run %d" % (n, "es" if n > 1 else "",
                                                                                       r + 1))
                result["quoted"] = {"workers": workers.commands,
                                    "load": quoted(cmd, workers.prefix, workers.pids)}
                results.append(result)
            out["runs"][str(n)] = results
        finally:
            workers.stop()
    return out


def step_escalations(report, s):
    return report.run("escalations", [
        BENCH, "escalations", "--pending", s["pending"], "--park", str(s["park"]), "--latency-votes",
        str(s["latency_votes"]), "--calls", str(s["calls"]), "--timeouts", str(s["timeouts"]),
        "--timeout-seconds", str(s["timeout_seconds"]), "--durability", "full", "--json"],
        "backlogs of pending escalations", timeout=7200)


# ---------------------------------------------------------------- formatting

def n0(x):
    return "-" if x is None else "{:,.0f}".format(x)


def ratio(a, b):
    if not a or not b:
        return "-"
    r = a / b
    return "{:,.0f}x".format(r) if r >= 10 else "%.2fx" % r if r < 1 else "%.1fx" % r


def ms(x):
    if x is None:
        return "-"
    return "%.2f ms" % x if x < 10 else "{:,.0f} ms".format(x) if x >= 100 else "%.1f ms" % x


def mib(kib):
    return "-" if not kib else "%.0f MiB" % (kib / 1024)


def us(x):
    return "-" if x is None else "{:,.0f} µs".format(x)


def median(values):
    v = sorted(values)
    return v[(len(v) - 1) // 2] if v else None


def median_run(results):
    """The run whose decisions/s is the (lower) median."""
    return sorted(results, key=lambda r: r["messages_per_second"])[(len(results) - 1) // 2]


def worker_key(bench):
    return next(k for k in bench["median"] if k.startswith("worker_"))


# ---------------------------------------------------------------- plots

def plots(data, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    made = {}
    steps = data["steps"]

    if "policy" in steps:
        t = steps["policy"]["tollgate"]["decisions_per_second"]
        r = steps["policy"]["reference"]["decisions_per_second"]
        keys = [k for k, _ in POLICY_ROWS]
        labels = ["seed policy\nevaluate", "1,000 rules\nevaluate", "seed policy\nJSON + evaluate",
                  "1,000 rules\nJSON + evaluate"]
        fig, ax = plt.subplots(figsize=(8, 4.2), dpi=110)
        x = range(len(keys))
        ax.bar([i - 0.2 for i in x], [t[k] for k in keys], 0.4, label="Tollgate (Swift)", color="#2b6cb0")
        ax.bar([i + 0.2 for i in x], [r[k] for k in keys], 0.4, label="agent-os 3.7.0 PolicyEvaluator",
               color="#dd6b20")
        for i, k in enumerate(keys):
            ax.text(i, max(t[k], r[k]) * 1.6, ratio(t[k], r[k]), ha="center", fontsize=9)
        ax.set_yscale("log")
        ax.set_ylim(min(r[k] for k in keys) / 3, max(t[k] for k in keys) * 40)
        ax.set_xticks(list(x), labels, fontsize=8)
        ax.set_ylabel("decisions/s, one thread (log scale)")
        ax.set_title("Policy evaluation")
        ax.legend(fontsize=8, loc="upper center", ncol=2)
        fig.tight_layout()
        fig.savefig(os.path.join(out, "policy.png"))
        plt.close(fig)
        made["policy"] = "policy.png"

    if "e2e" in steps:
        rows = e2e_rows(steps["e2e"])
        fig, ax = plt.subplots(figsize=(8, 4.2), dpi=110)
        colors = ["#718096", "#2b6cb0", "#2b6cb0", "#dd6b20", "#dd6b20", "#dd6b20"]
        values = [row["rate"] for row in rows]
        ax.bar(range(len(rows)), values, color=colors[:len(rows)])
        for i, v in enumerate(values):
            ax.text(i, v, n0(v), ha="center", va="bottom", fontsize=8)
        ax.set_xticks(range(len(rows)), [row["short"] for row in rows], fontsize=7)
        ax.set_ylabel("decisions/s (relay: messages/s)")
        ax.set_title("End to end through the broker (one run)")
        fig.tight_layout()
        fig.savefig(os.path.join(out, "end-to-end.png"))
        plt.close(fig)
        made["e2e"] = "end-to-end.png"

    if "escalations" in steps:
        res = steps["escalations"]["results"]
        labels = [n0(r["pending"]) for r in res]
        x = range(len(res))
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4), dpi=110)
        for key, label in (("calls_per_second", "tool calls/s"), ("parked_per_second", "parked/s"),
                           ("final_decisions_per_second", "final decisions/s (votes)")):
            a1.plot(x, [r[key] for r in res], marker="o", label=label)
        if all(r.get("timeouts") for r in res):
            a1.plot(x, [r["timeouts"]["timeouts_per_second"] for r in res], marker="o", label="timeouts/s")
        a1.set_xticks(list(x), labels)
        a1.set_xlabel("pending escalations before the run")
        a1.set_ylabel("per second")
        a1.set_ylim(bottom=0)
        a1.legend(fontsize=8)
        a1.set_title("Rates")
        for key, label in (("p50", "p50"), ("p99", "p99")):
            a2.plot(x, [r["vote_to_final_ms"][key] for r in res], marker="o", label=label)
        a2.set_xticks(list(x), labels)
        a2.set_xlabel("pending escalations before the run")
        a2.set_ylabel("vote -> final decision, ms")
        a2.set_ylim(bottom=0)
        a2.legend(fontsize=8)
        a2.set_title("Latency at %s votes/s" % n0(steps["escalations"]["vote_rate"]))
        fig.tight_layout()
        fig.savefig(os.path.join(out, "escalations.png"))
        plt.close(fig)
        made["escalations"] = "escalations.png"

    if "scaling" in steps:
        rows = scaling_rows(steps["scaling"])
        fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
        xs = [row["workers"] for row in rows]
        ax.plot(xs, [row["rate"] for row in rows], marker="o", label="measured decisions/s")
        ax.plot(xs, [row["cpu_ceiling"] for row in rows], marker="x", linestyle=":",
                label="nproc / CPU per decision (all processes)")
        if "e2e" in steps:
            relay = steps["e2e"]["worker_bench"]["median"]["relay"]["messages_per_second"]
            ax.axhline(relay, color="#718096", linestyle="--", label="relay ceiling (same run)")
        ax.set_xticks(xs)
        ax.set_xlabel("tollgate worker processes on one broker")
        ax.set_ylabel("decisions/s")
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8)
        ax.set_title("Scaling on %s cores shared with the broker" % data["machine"]["nproc"])
        fig.tight_layout()
        fig.savefig(os.path.join(out, "scaling.png"))
        plt.close(fig)
        made["scaling"] = "scaling.png"
    return made


# ---------------------------------------------------------------- tables

POLICY_ROWS = [("seed_evaluate", "seed policy, evaluate"), ("large_evaluate", "1,000 `tool_name eq` rules, evaluate"),
               ("seed_parse_evaluate", "seed policy, JSON parse + evaluate"),
               ("large_parse_evaluate", "1,000 rules, JSON parse + evaluate")]


def e2e_rows(e):
    wb = e["worker_bench"]["median"]
    wk = worker_key(e["worker_bench"])
    rows = [
        {"short": "relay\n(ceiling)", "name": "relay ceiling (`tollgate-bench worker`, consume -> reply -> ack)",
         "rate": wb["relay"]["messages_per_second"], "sut": wb["relay"]["cpu"].get("process_us_per_message"),
         "sut_note": "relay + load generator", "broker": wb["relay"]["cpu"].get("broker_us_per_message"),
         "gen": None, "latency": wb["relay"]["latency_ms"]},
        {"short": "Tollgate worker\nin-process", "name": "Tollgate worker, in the benchmark process (`tollgate-bench worker`, %s)"
         % wk[len("worker_"):], "rate": wb[wk]["messages_per_second"], "sut": wb[wk]["cpu"].get("process_us_per_message"),
         "sut_note": "worker + load generator", "broker": wb[wk]["cpu"].get("broker_us_per_message"), "gen": None,
         "latency": wb[wk]["latency_ms"]},
    ]

    def load_row(key, short, name):
        r = median_run(e[key])
        return {"short": short, "name": name, "rate": r["messages_per_second"],
                "sut": r["processes"][0].get("cpu_us_per_message") if r["processes"] else None, "sut_note": "",
                "broker": r["cpu"].get("broker_us_per_message"), "gen": r["cpu"].get("process_us_per_message"),
                "latency": r["latency_ms"]}

    rows.append(load_row("worker_process", "Tollgate worker\nprocess", "Tollgate, one `tollgate worker` process (`tollgate-bench load`)"))
    rows.append(load_row("python_select", "Python gate\nSelectConnection",
                         "Python gate, pika SelectConnection, pipelined confirms (`tollgate-bench load`)"))
    rows.append(load_row("python_blocking", "Python gate\nBlockingConnection",
                         "Python gate, pika BlockingConnection, confirm per message (`tollgate-bench load`)"))
    p = e["python_own_load"][0]
    rows.append({"short": "Python gate\nown Python load", "name":
                 "Python gate, SelectConnection, its own Python load generator (`python_gate.py bench`)",
                 "rate": p["messages_per_second"], "sut": p["cpu"]["gate_us_per_message"], "sut_note": "",
                 "broker": p["cpu"]["broker_us_per_message"], "gen": p["cpu"]["load_generator_us_per_message"],
                 "latency": p["latency_ms"]})
    return rows


def scaling_rows(sc):
    nproc = None
    rows = []
    for n, results in sorted(sc["runs"].items(), key=lambda kv: int(kv[0])):
        r = median_run(results)
        worker_cpu = [p.get("cpu_us_per_message") for p in r["processes"]]
        total_workers = sum(c for c in worker_cpu if c is not None)
        broker = r["cpu"].get("broker_us_per_message")
        gen = r["cpu"].get("process_us_per_message")
        nproc = nproc or int(r["machine"]["nproc"])
        total = total_workers + (broker or 0) + (gen or 0)
        rows.append({
            "workers": int(n), "rate": r["messages_per_second"], "runs": [x["messages_per_second"] for x in results],
            "worker_cpu": worker_cpu, "workers_cpu_total": total_workers, "broker": broker, "gen": gen,
            "total_cpu": total, "cpu_ceiling": nproc * 1e6 / total if total else None,
            "rss_start": [p["rss_start_kib"] for p in r["processes"]],
            "rss_peak": [p["rss_peak_during_kib"] for p in r["processes"]],
            "rss_after": [p["rss_after_kib"] for p in r["processes"]],
            "vmhwm": [p["vmhwm_after_kib"] for p in r["processes"]],
            "replies": r["replies"], "messages": r["messages"], "decisions": r["decisions"],
            "latency": r["latency_ms"],
        })
    return rows


def markdown(data, images, short_mode):
    m = data["machine"]
    steps = data["steps"]
    L = []
    add = L.append
    add("# Tollgate side by side: policy engine, end to end, escalations, scaling, memory")
    add("")
    add("Written by `deploy/bench-report.sh%s` (tools/bench/report.py) from one run, %s to %s; every figure "
        "below comes from that run (raw JSON: [report.json](report.json)). Ratios compare figures of this "
        "run only." % (" --short" if short_mode else "", data["started"], data["finished"]))
    if short_mode:
        add("")
        add("**Short mode**: small sizes, for trying the script; the figures are noisier than a full run's.")
    add("")
    add("## Machine")
    add("")
    add("| what | value |")
    add("|---|---|")
    add("| CPU | `nproc` = %s, %s (`/proc/cpuinfo` model name%s) |" % (
        m["nproc"], m["cpu_model"], ", %s MHz" % m["cpu_mhz"] if m.get("cpu_mhz") else ""))
    add("| memory | %s GiB |" % m["memory_gib"])
    add("| system | %s (Debian %s), Linux %s |" % (m["os"], m["debian"], m["kernel"]))
    add("| Swift | %s, `swift build -c release` |" % m["swift"])
    rabbit = m.get("rabbitmq")
    add("| broker | RabbitMQ %s (Debian `rabbitmq-server %s`, Erlang `%s`), on the same machine and cores |" % (
        rabbit or "?", m["rabbitmq_package"], m["erlang_package"]))
    add("| AMQP client, database | librabbitmq4 %s, SQLite %s |" % (m["librabbitmq_package"], m["sqlite_package"]))
    add("| Python | %s; pika %s, agent-os-kernel %s, matplotlib %s |" % (
        m["python"], m["packages"]["pika"], m["packages"]["agent-os-kernel"], m["packages"]["matplotlib"]))
    add("| code | commit %s%s |" % (m["commit"], " plus %d uncommitted tracked files" % m["uncommitted_files"]
                                    if m["uncommitted_files"] else ""))
    add("| load average at the start | %s |" % " ".join(str(x) for x in m["load_average"]))
    add("")
    add("The broker, the load generators and the systems under test share the %s cores: end-to-end figures "
        "follow whichever is short of CPU, mostly the broker. The load average before each command is in "
        "the command list at the end." % m["nproc"])

    if "policy" in steps:
        t = steps["policy"]["tollgate"]
        r = steps["policy"]["reference"]
        add("")
        add("## 1. Policy evaluation")
        add("")
        add("One thread, contexts built before the clock starts (and JSON parse + evaluate on wire-protocol "
            "tool calls), best of the repeats; the same inputs in both programs (seed policy "
            "`%s`, and 1,000 rules `tool_name eq tool-N`)." % POLICY)
        add("")
        add("| input | Tollgate (decisions/s) | agent-os %s `PolicyEvaluator` (decisions/s) | ratio |" %
            r["agent_os_kernel"])
        add("|---|---:|---:|---:|")
        for key, name in POLICY_ROWS:
            a, b = t["decisions_per_second"][key], r["decisions_per_second"][key]
            add("| %s | %s | %s | %s |" % (name, n0(a), n0(b), ratio(a, b)))
        add("")
        add("![policy evaluation](%s)" % images["policy"])

    if "e2e" in steps:
        e = steps["e2e"]
        wb = e["worker_bench"]
        wk = worker_key(wb)
        rows = e2e_rows(e)
        relay = rows[0]["rate"]
        py = median_run(e["python_select"])["messages_per_second"]
        pairs = [a["messages_per_second"] / b["messages_per_second"]
                 for a, b in zip(e["worker_process"], e["python_select"])]
        add("")
        add("## 2. End to end through the broker")
        add("")
        add("Tool calls of %d bytes, persistent, to quorum queues, 1,000 agents, a unique `message_id` each; "
            "allowed and denied under the seed policy (3:1), no escalations; open loop at full speed with "
            "1,000 unconfirmed publishes at most; decisions/s = replies / (first publish -> last reply), "
            "after a warm-up. `tollgate-bench worker` measures the relay (consume a quorum queue, publish the "
            "body to `reply_to` with confirms, ack once confirmed: the least a worker must do) and the worker "
            "in its own process (`--durability full`, `--decision-feed batch`), %d run(s), medians; the "
            "others are measured with `tollgate-bench load` (the same load generator, in its own process): "
            "a `tollgate worker` process and the Python gate with SelectConnection, both running, loaded in "
            "turn, %d run(s) each (the run with the median rate shown, the lower one for an even count); "
            "then the Python gate with BlockingConnection (%s calls, one run), then the Python gate with "
            "its own Python load generator (one run)." % (
                wb["body_bytes"], wb["runs"], len(e["worker_process"]), n0(e["python_blocking"][0]["messages"])))
        add("")
        add("| system | decisions/s | / relay | Tollgate process / this | CPU per decision: system | broker "
            "| load generator | latency p50 / p99 |")
        add("|---|---:|---:|---:|---:|---:|---:|---|")
        worker_proc = median_run(e["worker_process"])["messages_per_second"]
        for row in rows:
            sut = us(row["sut"]) + (" (%s)" % row["sut_note"] if row["sut_note"] else "")
            add("| %s | %s | %s | %s | %s | %s | %s | %s / %s |" % (
                row["name"], n0(row["rate"]), ratio(row["rate"], relay) if row is not rows[0] else "1",
                ratio(worker_proc, row["rate"]) if row["name"].startswith("Python") else "-", sut,
                us(row["broker"]), us(row["gen"]), ms(row["latency"]["p50"]), ms(row["latency"]["p99"])))
        add("")
        add("- **worker / relay: %s** (in-process worker against the relay of the same run; median of the "
            "per-run ratios: %.2f; runs: relay %s, worker %s)." % (
                ratio(wb["median"][wk]["messages_per_second"], relay), wb["median"][wk]["ratio_to_relay"],
                ", ".join(n0(x["relay"]) for x in wb["runs_messages_per_second"]),
                ", ".join(n0(x[wk]) for x in wb["runs_messages_per_second"])))
        add("- **worker / Python: %s** (one `tollgate worker` process against the Python gate with "
            "SelectConnection, both under `tollgate-bench load`; median of the per-pair ratios %s, runs: "
            "worker %s, Python %s); %s against BlockingConnection." % (
                ratio(worker_proc, py), "%.1f" % median(pairs),
                ", ".join(n0(x["messages_per_second"]) for x in e["worker_process"]),
                ", ".join(n0(x["messages_per_second"]) for x in e["python_select"]),
                ratio(worker_proc, e["python_blocking"][0]["messages_per_second"])))
        p = e["python_own_load"][0]
        add("- With its own Python load generator the Python gate did %s decisions/s; that generator took "
            "%s of CPU per call against %s for `tollgate-bench load`, on the cores the gate needs (its "
            "publish rate was %s/s)." % (n0(p["messages_per_second"]), us(p["cpu"]["load_generator_us_per_message"]),
                                         us(median_run(e["python_select"])["cpu"].get("process_us_per_message")),
                                         n0(p["publish_messages_per_second"])))
        add("- The Python gate does less than the worker: no database (no idempotency by `message_id`, no "
            "audit trail, no budgets), no escalations, no decision feed. The worker stores every call and "
            "its audit entry in SQLite (fsync per batch) and publishes the decision feed.")
        add("- Latencies are queueing: the load is open loop, so the input queue grows.")
        add("- Replies (allow / deny), every run: %s." % "; ".join(
            "%s %d of %d (%s / %s)" % (k.replace("_", " "), r["replies"], r["messages"],
                                        n0(r["decisions"].get("allow", 0)), n0(r["decisions"].get("deny", 0)))
            for k in ("worker_process", "python_select", "python_blocking", "python_own_load") for r in e[k]))
        add("")
        add("![end to end](%s)" % images["e2e"])

    if "escalations" in steps:
        es = steps["escalations"]
        res = es["results"]
        add("")
        add("## 3. Escalations")
        add("")
        add("`tollgate-bench escalations`, `--durability %s`, the worker in the benchmark process: per backlog a "
            "new database filled with that many pending escalations, then %s allowed and denied calls, %s calls "
            "of `transfer_funds` parked and approved by `manager@corp.com` at full speed, %s more approved at "
            "%s votes/s (the latency), and %s left to time out: parked by a worker whose escalation timeout is "
            "%d s, which then stops; once every deadline has passed a worker starts on the database and "
            "decides them (timeouts/s = its start -> the agent's last final `timeout` decision, start-up "
            "included)." % (es["durability"], n0(es["calls"]), n0(es["park"]), n0(es["latency_votes"]),
                            n0(es["vote_rate"]), n0(es.get("timeouts")), es.get("timeout_seconds", 0)))
        add("")
        add("| pending | fill | database | start-up | tool calls/s | parked/s | final decisions/s | vote -> final "
            "p50 | p99 | timeouts/s | RSS after start / after load |")
        add("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for r in res:
            t = r.get("timeouts") or {}
            add("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s |" % (
                n0(r["pending"]), "-" if not r["pending"] else "%.1f s" % r["fill_seconds"],
                "-" if not r["pending"] else "%.0f MB" % (r["database_bytes"] / 1e6), ms(r["startup_ms"]),
                n0(r["calls_per_second"]), n0(r["parked_per_second"]), n0(r["final_decisions_per_second"]),
                ms(r["vote_to_final_ms"]["p50"]), ms(r["vote_to_final_ms"]["p99"]),
                n0(t.get("timeouts_per_second")), mib(r["rss_started_kib"]), mib(r["rss_loaded_kib"])))
        add("")
        add("Checks: %s." % "; ".join(
            "pending %s: %d of %d `pending` replies, %d votes accepted, %s still pending after%s" % (
                n0(r["pending"]), r["pending_replies"], es["park"] + es["latency_votes"], r["votes_accepted"],
                n0(r["pending_after"]),
                ", %d of %d timeouts reached the agent" % (r["timeouts"]["finals"], r["timeouts"]["parked"])
                if r.get("timeouts") else "") for r in res))
        add("RSS is the benchmark process (worker and load generator together).")
        add("")
        add("![escalations](%s)" % images["escalations"])

    if "scaling" in steps:
        rows = scaling_rows(steps["scaling"])
        one = rows[0]["rate"]
        add("")
        add("## 4. Scaling: 1, 2 and 3 workers on one broker")
        add("")
        add("`tollgate worker` processes (release build, seed policy, `--durability full`, `--decision-feed "
            "batch`, each with its own worker id and database) on one prefix: the consistent-hash exchange "
            "spreads the 1,000 agents over their shards. `tollgate-bench load` offers %s calls after %s of "
            "warm-up (%d run(s) per size; the run with the median rate shown, the lower one for an even count)." % (
                n0(steps["scaling"]["runs"]["1"][0]["messages"]), n0(steps["scaling"]["runs"]["1"][0]["warmup"]),
                len(steps["scaling"]["runs"]["1"])))
        add("")
        add("CPU per decision is each process's CPU during the load divided by all the decisions of the run.")
        add("")
        add("| workers | decisions/s (runs) | vs 1 worker | CPU per decision: each worker | workers together "
            "| broker | load generator | all | nproc / all | measured / (nproc / all) |")
        add("|---:|---|---:|---|---:|---:|---:|---:|---:|---:|")
        for row in rows:
            add("| %d | %s (%s) | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                row["workers"], n0(row["rate"]), ", ".join(n0(x) for x in row["runs"]), ratio(row["rate"], one),
                ", ".join(us(c) for c in row["worker_cpu"]), us(row["workers_cpu_total"]), us(row["broker"]),
                us(row["gen"]), us(row["total_cpu"]), n0(row["cpu_ceiling"]),
                "%.2f" % (row["rate"] / row["cpu_ceiling"]) if row["cpu_ceiling"] else "-"))
        last = rows[-1]
        broker_us = median([row["broker"] for row in rows if row["broker"]])
        worker_us = median([row["workers_cpu_total"] for row in rows if row["workers_cpu_total"]])
        add("")
        add("**On %s cores shared with the broker this measures the machine, the broker above all, not how far "
            "workers scale.** `nproc / "
            "all` is the rate the %s cores would allow if all of their CPU went to this work (nproc divided by "
            "the CPU that the workers, the broker and the load generator spent per decision); the last column "
            "is how much of it was reached (the rest went to other processes on the machine, see the load "
            "averages under Commands, to the kernel, or the cores were idle). With %d workers the broker took "
            "%s of the %s spent per decision and the workers %s together: more workers on these cores only "
            "add processes competing with the broker for the same CPU." % (
                m["nproc"], m["nproc"], last["workers"], us(last["broker"]), us(last["total_cpu"]),
                us(last["workers_cpu_total"])))
        add("")
        if broker_us and worker_us:
            add("Model for a real cluster, where the broker has cores of its own and each worker one core: a "
                "worker needs about %s of CPU per decision it decides (measured: the workers together, median of "
                "the sizes above), so one "
                "core of worker gives at most about %s decisions/s; the broker needs about %s per decision "
                "(measured here: the input publish, the reply, the feed's share, the acks, on one node), so "
                "workers scale until throughput ~ broker cores x 1,000,000 / %s, about %s decisions/s per "
                "broker core. A cluster's quorum queues replicate every message to the other nodes, so its "
                "CPU per decision is higher than this single node's; that was not measured here." % (
                    us(worker_us), n0(1e6 / worker_us), us(broker_us), "%.0f" % broker_us, n0(1e6 / broker_us)))
        add("")
        add("![scaling](%s)" % images["scaling"])

    if {"e2e", "scaling", "escalations"} & set(steps):
        memory(add, steps)
    commands(add, data)
    return "\n".join(L) + "\n"


def memory(add, steps):
    add("")
    add("## 5. Memory")
    add("")
    add("| process | state | resident (VmRSS) |")
    add("|---|---|---|")
    if "scaling" in steps:
        rows = scaling_rows(steps["scaling"])
        r1 = rows[0]
        add("| one `tollgate worker` process | idle, after start | %s |" % mib(r1["rss_start"][0]))
        add("| | under full load (largest sample, every 50 ms) | %s |" % mib(r1["rss_peak"][0]))
        add("| | after the load / peak since start (VmHWM) | %s / %s |" % (mib(r1["rss_after"][0]),
                                                                         mib(r1["vmhwm"][0])))
        for row in rows[1:]:
            add("| %d `tollgate worker` processes | each, idle -> under load | %s |" % (
                row["workers"], ", ".join("%s -> %s" % (mib(a), mib(b)) for a, b in zip(row["rss_start"],
                                                                                      row["rss_peak"]))))
    if "e2e" in steps:
        wb = steps["e2e"]["worker_bench"]["median"]
        wk = worker_key(steps["e2e"]["worker_bench"])
        add("| `tollgate-bench worker` (worker + load generator in one process) | idle / after the load | %s / %s |"
            % (mib(wb[wk]["rss_idle_kib"]), mib(wb[wk]["rss_loaded_kib"])))
        runs = steps["e2e"]["python_select"]
        if runs[0]["processes"]:
            add("| Python gate (SelectConnection) | idle / under load (largest sample) | %s / %s |" % (
                mib(runs[0]["processes"][0]["rss_start_kib"]),
                mib(max(r["processes"][0]["rss_peak_during_kib"] for r in runs))))
    if "escalations" in steps:
        for r in steps["escalations"]["results"]:
            add("| `tollgate-bench escalations` (worker + load generator) | %s pending: after start / after the "
                "load | %s / %s |" % (n0(r["pending"]), mib(r["rss_started_kib"]), mib(r["rss_loaded_kib"])))
        top = max(r["pending"] for r in steps["escalations"]["results"])
        if top < 1_000_000:
            add("")
            add("(This run's largest backlog was %s pending escalations; the full run measures 1,000,000.)" % n0(top))
    if "escalations" in steps:
        add("")
        add("The resident size with pending escalations is that of the benchmark process, which also holds "
            "the load generator; the worker keeps pending escalations in SQLite, not in memory.")


def commands(add, data):
    steps = data["steps"]

    add("")
    add("## Commands")
    add("")
    add("Built with `swift build -c release --product tollgate-bench` and `swift build -c release --product "
        "tollgate`; then, in this order (`$PREFIX` a new random topology prefix, `$PID` the pid of the "
        "process under test, `$TMP` a new temporary folder; seconds and load average before each):")
    add("")
    add("```sh")
    for c in data["commands"]:
        add("# %s: %s (%.0f s, load average %.2f)" % (c["step"], c["label"], c["seconds"], c["load_average_before"]))
        add(c["quoted"] if "quoted" in c else c["command"])
    add("```")
    if "e2e" in steps or "scaling" in steps:
        add("")
        add("The processes under `tollgate-bench load` were started as:")
        add("")
        add("```sh")
        if "e2e" in steps:
            add("\n".join(steps["e2e"]["worker_process"][0]["quoted"]["worker"]))
            add(steps["e2e"]["python_select"][0]["quoted"]["gate"])
            add(steps["e2e"]["python_blocking"][0]["quoted"]["gate"])
        if "scaling" in steps:
            add("\n".join(steps["scaling"]["runs"]["3"][0]["quoted"]["workers"]))
        add("```")
    add("")
    add("Total: %.0f s of measurement commands, %.0f s for the whole report." % (
        sum(c["seconds"] for c in data["commands"]), data["seconds"]))


def quote_commands(data):
    """The commands with random prefixes and pids replaced by placeholders."""
    quoted_loads = []
    for key in ("e2e", "scaling"):
        s = data["steps"].get(key)
        if not s:
            continue
        items = [r for v in s.values() if isinstance(v, list) for r in v if "quoted" in r] if key == "e2e" else \
            [r for runs in s["runs"].values() for r in runs]
        quoted_loads += [(r["prefix"], r["quoted"]["load"]) for r in items]
    for c in data["commands"]:
        for prefix, text in quoted_loads:
            if prefix in c["command"]:
                c["quoted"] = text


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=("short", "full"), default="full")
    ap.add_argument("--out", help="report folder (default var/bench for short, docs/bench for full)")
    ap.add_argument("--steps", default=",".join(STEPS), help="comma-separated: " + ", ".join(STEPS))
    args = ap.parse_args()
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    for s in steps:
        if s not in STEPS:
            ap.error("unknown step %r" % s)
    out = os.path.join(ROOT, args.out or ("var/bench" if args.mode == "short" else "docs/bench"))
    os.makedirs(out, exist_ok=True)
    for binary in (BENCH, TOLLGATE):
        if not os.access(os.path.join(ROOT, binary), os.X_OK):
            raise SystemExit("bench-report: %s is not built (swift build -c release --product %s)" % (
                binary, os.path.basename(binary)))
    sizes = SIZES[args.mode]
    report = Report(out, args.mode)
    report.data["machine"] = machine()
    report.save()
    folder = tempfile.mkdtemp(prefix="tollgate-bench-report-")
    started = time.monotonic()
    ok = False
    try:
        for step in STEPS:  # in this order, whatever the order given
            if step not in steps:
                continue
            say("step %s" % step)
            if step == "policy":
                result = step_policy(report, sizes)
            elif step == "e2e":
                result = step_e2e(report, sizes, folder)
            elif step == "scaling":
                result = step_scaling(report, sizes, folder)
            else:
                result = step_escalations(report, sizes)
            report.data["steps"][step] = result
            report.save()
        ok = True
    finally:
        if ok:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            say("failed: the workers' databases and logs are in %s; partial results in %s/report.json" % (
                folder, os.path.relpath(out, ROOT)))
    report.data["finished"] = now_utc()
    report.data["seconds"] = round(time.monotonic() - started, 1)
    quote_commands(report.data)
    report.save()
    images = plots(report.data, out)
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write(markdown(report.data, images, args.mode == "short"))
    say("wrote %s/report.md, report.json and %s (%.0f s)" % (os.path.relpath(out, ROOT),
                                                            ", ".join(sorted(images.values())),
                                                            report.data["seconds"]))


if __name__ == "__main__":
    main()
