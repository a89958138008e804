#!/usr/bin/env python3
"""The proof: Tollgate workers under load and faults, and a checker that counts what went wrong.

A run starts one or more real workers (the built `tollgate` binary) with the proof policy
(tools/proof/policy.yaml) on a prefix of its own, puts a seeded load of agents on them (calls
that allow, deny, escalate, spend a budget and are malformed; retries with the same message_id,
some to a new reply queue), votes on a share of the escalations as approvers would (single
approvers and quorums, some votes that must be rejected) and lets the others time out, while a
fault is injected. Then it reads every reply, the decision feed, the escalation notices, the
dead letters and the audit chains, and counts:

  lost                calls confirmed by the broker that never got a final decision
  split               one message_id turned into two request_ids
  conflicting         a request with two different final decisions (replies, feed, notices)
  decided_twice       an escalation whose resolved notices disagree
  wrong               a final decision that is not what the policy and the votes give
  bad_votes_applied   a vote that had to be rejected but counted (or was answered accepted)
  dead_no_reason      a dead letter without its x-tollgate-error header
  malformed_not_dead  a malformed call never dead-lettered
  budget_overspend    an agent's session allowed more calls than max_tool_calls
  feed_missing        a final decision the decision feed never carried
  audit_breaks        a database whose audit chain does not verify
  ready_while_unwritable  a disk fault (full, read-only) during which /readyz never said not ready

Every count must be 0. Faults: none, sigkill, sigterm, sigstop, close-connection,
broker-restart, broker-server, cluster-node, duplicate-id, drain-add, disk-full, read-only (see
FAULTS). disk-full and read-only put the database on a small file system of its own and need
root (mount).

  tools/proof/proof.py --fault sigkill --seconds 40
  tools/proof/proof.py --fault disk-full --seconds 20 --disk-hold 12     (as root)
  tools/proof/proof.py --fault all --report var/proof      (deploy/proof.sh does this)

Needs pika (deploy/proof.sh makes a virtual environment with it) and a broker with the test
users of deploy/broker-users.sh.
"""

import argparse
import errno
import heapq
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

import pika
import pika.exceptions

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
POLICY = os.path.join(HERE, "policy.yaml")
BUDGET = 25
TIMEOUT_SECONDS = 8
APPROVERS = {
    "transfer_funds": ["manager@corp.com", "compliance@corp.com", "cfo@corp.com"],
    "send_email": ["manager@corp.com"],
}
REQUIRED = {"transfer_funds": 2, "send_email": 1}
PASSWORD = os.environ.get("TOLLGATE_TEST_PASSWORD", "secret")
FAULTS = [
    "none",
    "sigkill",
    "sigterm",
    "sigstop",
    "close-connection",
    "broker-restart",
    "broker-server",
    "cluster-node",
    "duplicate-id",
    "drain-add",
    "disk-full",
    "read-only",
]
DISK_FAULTS = {"disk-full": "tmpfs", "read-only": "ext4"}
DISK_MEGABYTES = 64
COUNTS = [
    "lost",
    "split",
    "conflicting",
    "decided_twice",
    "wrong",
    "bad_votes_applied",
    "dead_no_reason",
    "malformed_not_dead",
    "budget_overspend",
    "feed_missing",
    "audit_breaks",
    "ready_while_unwritable",
]


def log(*parts):
    print(time.strftime("%H:%M:%S"), "proof:", *parts, flush=True)


# ---------------------------------------------------------------------------------------------
# Broker connections that come back


class Link:
    """One pika connection as one user, reconnected (rotating over the node URLs) on failure."""

    def __init__(self, ports, user, password=PASSWORD, confirm=True):
        self.ports, self.user, self.password, self.confirm = ports, user, password, confirm
        self.connection = self.channel = None
        self.turn = 0

    def open(self):
        last = None
        for _ in range(len(self.ports) * 60):
            port = self.ports[self.turn % len(self.ports)]
            self.turn += 1
            try:
                params = pika.ConnectionParameters(
                    host="127.0.0.1",
                    port=port,
                    credentials=pika.PlainCredentials(self.user, self.password),
                    heartbeat=0,
                    blocked_connection_timeout=30,
                    connection_attempts=1,
                    socket_timeout=5,
                )
                self.connection = pika.BlockingConnection(params)
                self.channel = self.connection.channel()
                if self.confirm:
                    self.channel.confirm_delivery()
                return self.channel
            except Exception as error:  # noqa: BLE001 - any failure means: try the next node
                last = error
                time.sleep(0.5)
        raise RuntimeError(f"cannot connect as {self.user} to ports {self.ports}: {last}")

    def ensure(self):
        if self.connection is None or self.connection.is_closed or self.channel is None or self.channel.is_closed:
            self.close()
            self.open()
        return self.channel

    def publish(self, exchange, key, body, properties, deadline=120):
        """Publishes until the broker confirms it (a restarting agent retries the same message)."""
        give_up = time.time() + deadline
        while True:
            try:
                self.ensure().basic_publish(exchange, key, body, properties, mandatory=False)
                return True
            except (pika.exceptions.AMQPError, OSError, RuntimeError) as error:
                self.close()
                if time.time() > give_up:
                    log(f"giving up a publish as {self.user}: {error!r}")
                    return False
                time.sleep(0.3)

    def close(self):
        try:
            if self.connection is not None and self.connection.is_open:
                self.connection.close()
        except Exception:  # noqa: BLE001 - closing a broken connection
            pass
        self.connection = self.channel = None


def quorum(channel, name):
    channel.queue_declare(name, durable=True, arguments={"x-queue-type": "quorum"})


# ---------------------------------------------------------------------------------------------
# Workers


class Worker:
    """A real `tollgate worker` process; restarted by the fault, as systemd would."""

    def __init__(self, run, worker_id, db=None, port=None, extra=()):
        self.ctx, self.id = run, worker_id
        self.db = db or os.path.join(run.db_dir, f"{worker_id}.db")
        self.port = port or run.next_port()
        self.extra = list(extra)
        self.log_path = os.path.join(run.dir, f"{worker_id}-{self.port}.log")
        self.process = None
        self.starts = 0

    def command(self):
        urls = [f"amqp://tollgate-worker:{PASSWORD}@127.0.0.1:{p}/" for p in self.ctx.ports]
        cmd = [self.ctx.binary, "worker", "--policy", POLICY, "--prefix", self.ctx.prefix]
        for url in urls:
            cmd += ["--amqp-url", url]
        cmd += ["--worker-id", self.id, "--db", self.db, "--metrics-port", str(self.port)]
        cmd += ["--metrics-address", "127.0.0.1", "--heartbeat", "2", "--stats-interval", "5"]
        return cmd + self.extra

    def start(self, wait=True):
        self.starts += 1
        out = open(self.log_path, "ab")
        out.write(f"--- start {self.starts} at {time.strftime('%H:%M:%S')}\n".encode())
        out.flush()
        self.process = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        out.close()
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout=90):
        give_up = time.time() + timeout
        while time.time() < give_up:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker {self.id} exited {self.process.returncode}: {self.tail()}")
            if self.ready():
                return
            time.sleep(0.2)
        raise RuntimeError(f"worker {self.id} not ready in {timeout} s: {self.tail()}")

    def ready(self):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=1) as answer:
                return answer.status == 200
        except Exception:  # noqa: BLE001 - not listening yet, or 503
            return False

    def readiness(self):
        """(HTTP status, body) of /readyz; (None, the error) when it does not answer."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=1) as answer:
                return answer.status, answer.read().decode(errors="replace").strip()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace").strip()
        except Exception as error:  # noqa: BLE001 - not listening (exited, starting)
            return None, f"{type(error).__name__}"

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def signal(self, sig):
        if self.alive():
            self.process.send_signal(sig)

    def wait_exit(self, timeout=60):
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            if self.wait_exit(30) is None:
                self.process.kill()
                self.process.wait()

    def tail(self, lines=30):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def log_text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()


# ---------------------------------------------------------------------------------------------
# What was sent and what came back


@dataclass
class Call:
    message_id: str
    agent: str
    tool: str
    session: str
    kind: str  # allow, deny, escalate, budget, malformed
    reply_queues: set = field(default_factory=set)
    sent: float = 0.0


@dataclass
class Vote:
    request_id: str
    voter: str
    decision: str
    must_reject: bool
    message_id: str
    answer: dict = None


class Record:
    """Everything the checker saw, filled by the collector threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.calls = {}  # message_id -> Call
        self.replies = defaultdict(list)  # message_id -> [decision body]
        self.feed = defaultdict(list)  # request_id -> [decision body]
        self.resolved = defaultdict(list)  # request_id -> [notice body]
        self.pending_notices = {}  # request_id -> notice body
        self.votes = {}  # vote message_id -> Vote
        self.vote_answers = defaultdict(list)  # vote message_id -> [answer body]
        self.dead = []  # (properties headers, message_id)
        self.outages = []  # what a disk or broker fault saw, one dict per fault phase

    def finals_of(self, message_id):
        return [r for r in self.replies.get(message_id, []) if r.get("final")]


# ---------------------------------------------------------------------------------------------
# Load: agents


MALFORMED = [
    b"not json at all",
    b'{"agent_id": "AGENT", "tool_name": ',
    b'{"agent_id": 5, "tool_name": "search_documents"}',
    b'{"agent_id": "AGENT"}',
    b'{"agent_id": "AGENT", "tool_name": ["x"]}',
    b'{"agent_id": "AGENT", "tool_name": "search_documents", "arguments": "nope"}',
    b"[1, 2, 3]",
    b'{"agent_id": "AGENT", "tool_name": "\xff\xfe"}',
]


class Agents(threading.Thread):
    """Agents publishing a seeded mix at a fixed rate; retries as restarting agents would."""

    def __init__(self, run, seconds, rate):
        super().__init__(daemon=True, name="agents")
        self.ctx, self.seconds, self.rate = run, seconds, rate
        self.random = random.Random(run.seed)
        self.link = Link(run.ports, "guest", "guest")
        self.agents = [f"agent-{n:02d}" for n in range(16)]
        self.budget_agents = ["agent-budget-1", "agent-budget-2"]
        self.session_counts = defaultdict(int)
        self.retries = []  # heap of (time, message_id, new_reply_to)
        self.published = self.retried = 0
        self.done = threading.Event()

    def reply_queue(self, agent, second=False):
        return f"{self.ctx.prefix}.proof.reply.{agent}{'.b' if second else ''}"

    def queues(self):
        return [self.reply_queue(a, s) for a in self.agents + self.budget_agents for s in (False, True)]

    def next_call(self, n):
        r = self.random.random()
        if r < 0.04:
            agent = self.budget_agents[n % 2]
            return Call(f"m-{n}", agent, "search_documents", f"budget-{agent}", "budget")
        agent = self.random.choice(self.agents)
        count = self.session_counts[agent]
        self.session_counts[agent] += 1
        session = f"s-{agent}-{count // 10}"  # 10 calls a session: never near the budget
        if r < 0.09:
            return Call(f"m-{n}", agent, "?", session, "malformed")
        if r < 0.40:
            return Call(f"m-{n}", agent, "search_documents", session, "allow")
        if r < 0.52:
            return Call(f"m-{n}", agent, "delete_database", session, "deny")
        if r < 0.60:
            return Call(f"m-{n}", agent, "read_file", session, "deny")
        if r < 0.80:
            return Call(f"m-{n}", agent, "send_email", session, "escalate")
        return Call(f"m-{n}", agent, "transfer_funds", session, "escalate")

    def body(self, call):
        if call.kind == "malformed":
            shape = MALFORMED[int(call.message_id[2:]) % len(MALFORMED)]
            return shape.replace(b"AGENT", call.agent.encode())
        return json.dumps(
            {
                "agent_id": call.agent,
                "tool_name": call.tool,
                "arguments": {"n": call.message_id, "amount": 100},
                "context": {"session_id": call.session},
            }
        ).encode()

    def send(self, call, reply_to, attempt):
        properties = pika.BasicProperties(
            content_type="application/json",
            delivery_mode=2,
            message_id=call.message_id,
            correlation_id=f"{call.message_id}#{attempt}",
            reply_to=reply_to,
        )
        with self.ctx.record.lock:
            call.reply_queues.add(reply_to)
        return self.link.publish(f"{self.ctx.prefix}.toolcalls", call.agent, self.body(call), properties)

    def run(self):  # noqa: D102 - threading.Thread
        start = time.time()
        n = 0
        while time.time() - start < self.seconds and not self.ctx.stopping.is_set():
            due = start + n / self.rate
            now = time.time()
            while self.retries and self.retries[0][0] <= now:
                _, message_id, second = heapq.heappop(self.retries)
                call = self.ctx.record.calls[message_id]
                if self.send(call, self.reply_queue(call.agent, second), 2):
                    self.retried += 1
            if now < due:
                time.sleep(min(due - now, 0.05))
                continue
            call = self.next_call(n)
            call.sent = time.time()
            with self.ctx.record.lock:
                self.ctx.record.calls[call.message_id] = call
            if self.send(call, self.reply_queue(call.agent), 1):
                self.published += 1
            if call.kind != "malformed" and self.random.random() < 0.06:
                heapq.heappush(
                    self.retries,
                    (time.time() + self.random.uniform(0.5, 4), call.message_id, self.random.random() < 0.5),
                )
            n += 1
        for when, message_id, second in sorted(self.retries):
            time.sleep(max(0, when - time.time()))
            call = self.ctx.record.calls[message_id]
            if self.send(call, self.reply_queue(call.agent, second), 2):
                self.retried += 1
        self.link.close()
        self.done.set()


# ---------------------------------------------------------------------------------------------
# Approvers


class Approvers(threading.Thread):
    """Reads the escalation notices and votes on a share of them, some votes wrong on purpose."""

    PEOPLE = ["manager@corp.com", "compliance@corp.com", "cfo@corp.com", "finance-agent"]

    def __init__(self, run):
        super().__init__(daemon=True, name="approvers")
        self.ctx = run
        self.random = random.Random(run.seed + 1)
        self.links = {p: Link(run.ports, p) for p in self.PEOPLE}
        self.notices = Link(run.ports, "guest", "guest", confirm=False)
        self.queue = f"{run.prefix}.proof.notices"
        self.answers = f"{run.prefix}.proof.votes"
        self.schedule = []  # heap of (time, seq, Vote, exchange, key)
        self.seq = 0
        self.planned = set()

    def plan(self, notice):
        """The votes for one escalation: (voter, decision, must_reject)."""
        tool, r = notice["tool_name"], self.random.random()
        if tool == "send_email":
            if r < 0.40:
                return [("manager@corp.com", "approve", False)]
            if r < 0.60:
                return [("manager@corp.com", "deny", False)]
            if r < 0.70:
                return [("compliance@corp.com", "approve", True)]  # not an approver of this rule
            return []
        if r < 0.40:
            return [("manager@corp.com", "approve", False), ("cfo@corp.com", "approve", False)]
        if r < 0.55:
            return [("manager@corp.com", "approve", False), ("manager@corp.com", "approve", True)]  # twice
        if r < 0.65:
            return [("finance-agent", "approve", True), ("compliance@corp.com", "approve", False)]
        if r < 0.70:
            return [("compliance@corp.com", "deny", False), ("cfo@corp.com", "approve", True)]  # after deny
        return []

    def on_notice(self, method, body):
        try:
            notice = json.loads(body)
        except ValueError:
            return
        request_id = notice.get("request_id")
        with self.ctx.record.lock:
            if method.routing_key.startswith("resolved."):
                self.ctx.record.resolved[request_id].append(notice)
                return
            first = request_id not in self.ctx.record.pending_notices
            self.ctx.record.pending_notices[request_id] = notice
        if not first or request_id in self.planned:
            return
        self.planned.add(request_id)
        via = notice["approve_via"]
        when = time.time()
        for voter, decision, must_reject in self.plan(notice):
            when += self.random.uniform(0.1, 1.0)
            vote = Vote(request_id, voter, decision, must_reject, f"v-{uuid.uuid4()}")
            self.seq += 1
            heapq.heappush(self.schedule, (when, self.seq, vote, via["exchange"], via["routing_key"]))

    def cast(self, vote, exchange, key):
        body = {"request_id": vote.request_id, "decision": vote.decision}
        if vote.decision == "deny":
            body["comment"] = "proof: denied on purpose"
        properties = pika.BasicProperties(
            content_type="application/json",
            delivery_mode=2,
            message_id=vote.message_id,
            correlation_id=vote.message_id,
            reply_to=self.answers,
            user_id=vote.voter,
        )
        with self.ctx.record.lock:
            self.ctx.record.votes[vote.message_id] = vote
        self.links[vote.voter].publish(exchange, key, json.dumps(body).encode(), properties)

    def run(self):  # noqa: D102 - threading.Thread
        while not self.ctx.finished.is_set():
            try:
                channel = self.notices.ensure()
                channel.basic_qos(prefetch_count=200)
                channel.basic_consume(self.queue, lambda ch, m, p, b: (self.on_notice(m, b), ch.basic_ack(m.delivery_tag)))
                while not self.ctx.finished.is_set():
                    self.notices.connection.process_data_events(time_limit=0.05)
                    now = time.time()
                    while self.schedule and self.schedule[0][0] <= now:
                        _, _, vote, exchange, key = heapq.heappop(self.schedule)
                        self.cast(vote, exchange, key)
            except (pika.exceptions.AMQPError, OSError, RuntimeError):
                self.notices.close()
                time.sleep(0.5)
        for link in self.links.values():
            link.close()
        self.notices.close()


# ---------------------------------------------------------------------------------------------
# Collector: replies, vote answers and the decision feed


class Collector(threading.Thread):
    def __init__(self, run, queues):
        super().__init__(daemon=True, name="collector")
        self.ctx, self.queues = run, queues
        self.link = Link(run.ports, "guest", "guest", confirm=False)

    def on_reply(self, queue, method, properties, body):
        record = self.ctx.record
        if queue == self.ctx.feed_queue:
            lines = body.split(b"\n") if properties.content_type == "application/x-ndjson" else [body]
            with record.lock:
                for line in lines:
                    if line.strip():
                        decision = json.loads(line)
                        record.feed[decision.get("request_id")].append(decision)
            return
        answer = json.loads(body)
        correlation = properties.correlation_id or ""
        with record.lock:
            if queue == self.ctx.vote_queue:
                record.vote_answers[correlation].append(answer)
            else:
                record.replies[correlation.split("#")[0]].append(answer)

    def run(self):  # noqa: D102 - threading.Thread
        while not self.ctx.finished.is_set():
            try:
                channel = self.link.ensure()
                channel.basic_qos(prefetch_count=1000)
                for queue in self.queues:
                    channel.basic_consume(
                        queue,
                        lambda ch, m, p, b, q=queue: (self.on_reply(q, m, p, b), ch.basic_ack(m.delivery_tag)),
                    )
                while not self.ctx.finished.is_set():
                    self.link.connection.process_data_events(time_limit=0.2)
            except (pika.exceptions.AMQPError, OSError, RuntimeError):
                self.link.close()
                time.sleep(0.5)
        self.link.close()


# ---------------------------------------------------------------------------------------------
# Faults


def run_command(command, timeout=60):
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


class Disk:
    """The workers' database folder on a small file system of its own (needs root).

    kind "tmpfs": a tmpfs of DISK_MEGABYTES, which fill() fills to the last page (ENOSPC).
    kind "ext4": an ext4 image of DISK_MEGABYTES, loop-mounted with errors=remount-ro; fs_error()
    makes the kernel turn it read-only under the worker as on an I/O error, and repair() does what
    an operator does: unmount (possible only once the worker let go of its database), e2fsck,
    mount again. (A tmpfs cannot be remounted read-only under load: the kernel refuses
    `mount -o remount,ro` with EBUSY while a file on it is open for writing, and the worker keeps
    its database open.)
    """

    def __init__(self, run, kind):
        self.kind = kind
        self.path = os.path.join(run.dir, "disk")
        self.image = os.path.join(run.dir, "disk.img")
        self.filler = os.path.join(self.path, "filler")
        self.mounted = False
        os.makedirs(self.path, exist_ok=True)

    def mount(self):
        if os.geteuid() != 0:
            raise RuntimeError("the disk faults mount a file system: run as root")
        if self.kind == "tmpfs":
            done = run_command(["mount", "-t", "tmpfs", "-o", f"size={DISK_MEGABYTES}m", "tmpfs", self.path])
        else:
            if not os.path.exists(self.image):
                with open(self.image, "wb") as f:
                    f.truncate(DISK_MEGABYTES << 20)
                made = run_command(["mkfs.ext4", "-q", "-F", self.image])
                if made.returncode != 0:
                    raise RuntimeError(f"mkfs.ext4: {made.stderr.strip()}")
            done = run_command(["mount", "-o", "loop,errors=remount-ro", self.image, self.path])
        if done.returncode != 0:
            raise RuntimeError(f"cannot mount the {self.kind} at {self.path}: {done.stderr.strip()}")
        self.mounted = True

    def options(self):
        with open("/proc/mounts") as mounts:
            for line in mounts:
                parts = line.split()
                if len(parts) > 3 and parts[1] == self.path:
                    return parts[0], parts[3].split(",")
        return None, []

    def free_bytes(self):
        stat = os.statvfs(self.path)
        return stat.f_bavail * stat.f_frsize

    def fill(self, chunk=1 << 20):
        """Writes the filler until the file system says ENOSPC, in big then in small pieces."""
        written = 0
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for size in (chunk, 4096, 512):
                block = b"\0" * size
                while True:
                    try:
                        n = os.write(fd, block)
                    except OSError as error:
                        if error.errno != errno.ENOSPC:
                            raise
                        break
                    written += n
                    if n < size:
                        break
        finally:
            os.close(fd)
        return written

    def top_up(self):
        """Keeps it full: whatever the worker freed (a shrunk WAL, a deleted journal) is taken."""
        return self.fill(chunk=4096)

    def free(self):
        try:
            os.remove(self.filler)
        except FileNotFoundError:
            pass

    def fs_error(self):
        """An ext4 error as an I/O error would cause one: the kernel remounts it read-only."""
        device, _ = self.options()
        name = (device or "?").rsplit("/", 1)[-1]
        with open(f"/sys/fs/ext4/{name}/trigger_fs_error", "w") as f:
            f.write("1")

    def read_only(self):
        _, options = self.options()
        return "ro" in options or "emergency_ro" in options

    def repair(self, wait=20):
        """Unmount (retried until the worker let go of the file), e2fsck, mount. Returns notes."""
        notes = {}
        started = time.time()
        while True:
            done = run_command(["umount", self.path])
            if done.returncode == 0:
                break
            if time.time() > started + wait:
                raise RuntimeError(f"cannot unmount {self.path} in {wait} s (the worker still holds its database?): "
                                   f"{done.stderr.strip()}")
            time.sleep(0.2)
        self.mounted = False
        notes["unmounted_after_s"] = round(time.time() - started, 1)
        fsck = run_command(["e2fsck", "-fy", self.image], timeout=120)
        notes["e2fsck_status"] = fsck.returncode  # 1: it fixed the error flag and counts
        if fsck.returncode not in (0, 1):
            raise RuntimeError(f"e2fsck {fsck.returncode}: {fsck.stdout.strip()[-300:]}")
        self.mount()
        return notes

    def release(self, keep_into=None):
        """Unmounts (lazily if it must); with keep_into, copies the database files there first."""
        if not self.mounted:
            return
        if keep_into:
            os.makedirs(keep_into, exist_ok=True)
            for name in os.listdir(self.path):
                if name != "filler" and os.path.isfile(os.path.join(self.path, name)):
                    shutil.copy2(os.path.join(self.path, name), keep_into)
        self.free()
        if run_command(["umount", self.path]).returncode != 0:
            run_command(["umount", "-l", self.path])
        self.mounted = False


def rabbitmqctl(*args, node=None, timeout=120):
    command = ["rabbitmqctl"] + (["-n", node] if node else []) + list(args)
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


class Fault(threading.Thread):
    """Injects one kind of fault while the load runs; counts what it did."""

    def __init__(self, run, kind, seconds):
        super().__init__(daemon=True, name=f"fault-{kind}")
        self.ctx, self.kind, self.seconds = run, kind, seconds
        self.random = random.Random(run.seed + 2)
        self.injected = 0
        self.restarts = 0  # exits of a worker the fault's supervisor started again
        self.notes = []
        self.error = None

    def pause(self, low, high):
        return self.ctx.stopping.wait(self.random.uniform(low, high))

    def run(self):  # noqa: D102 - threading.Thread
        try:
            getattr(self, "fault_" + self.kind.replace("-", "_"))()
        except Exception as error:  # noqa: BLE001 - reported as a failed run
            self.error = f"{type(error).__name__}: {error}"
            log(f"fault {self.kind} failed: {self.error}")

    def end(self):
        return time.time() > self.ctx.load_started + self.seconds or self.ctx.stopping.is_set()

    def fault_none(self):
        pass

    def fault_sigkill(self):
        worker = self.ctx.workers[0]
        while not self.pause(0.5, 2.5) and not self.end():
            worker.signal(signal.SIGKILL)
            worker.wait_exit(10)
            self.injected += 1
            time.sleep(self.random.uniform(0, 0.5))
            worker.start(wait=False)

    def fault_sigterm(self):
        worker = self.ctx.workers[0]
        while not self.pause(2, 5) and not self.end():
            worker.signal(signal.SIGTERM)
            code = worker.wait_exit(30)
            if code != 0:
                self.notes.append(f"SIGTERM exit status {code}")
            self.injected += 1
            worker.start(wait=False)

    def fault_sigstop(self):
        worker = self.ctx.workers[0]
        while not self.pause(3, 5) and not self.end():
            worker.signal(signal.SIGSTOP)
            time.sleep(self.random.uniform(7, 10))  # heartbeat 2 s: the broker closes the connection
            worker.signal(signal.SIGCONT)
            self.injected += 1

    def fault_close_connection(self):
        while not self.pause(1, 3) and not self.end():
            listing = rabbitmqctl("list_connections", "pid", "user", "--no-table-headers", "-q")
            for line in listing.stdout.splitlines():
                parts = line.split("\t")
                if len(parts) == 2 and parts[1] == "tollgate-worker":
                    rabbitmqctl("close_connection", parts[0], "proof: connection closed by the broker")
                    self.injected += 1

    def fault_broker_restart(self):
        while not self.pause(4, 7) and not self.end():
            stop = rabbitmqctl("stop_app")
            if stop.returncode != 0:
                raise RuntimeError(f"stop_app: {stop.stderr.strip()}")
            time.sleep(self.random.uniform(1, 4))
            start = rabbitmqctl("start_app")
            if start.returncode != 0:
                raise RuntimeError(f"start_app: {start.stderr.strip()}")
            self.injected += 1

    def fault_cluster_node(self):
        cluster = os.path.join(ROOT, "deploy", "cluster.sh")
        while not self.pause(4, 6) and not self.end():
            listing = rabbitmqctl("list_connections", "pid", "user", "--no-table-headers", "-q", node="tg1@localhost")
            if listing.returncode != 0:
                listing = rabbitmqctl("list_connections", "pid", "user", "--no-table-headers", "-q", node="tg2@localhost")
            on = None
            for line in listing.stdout.splitlines():
                match = re.match(r"<tg(\d)@", line)
                if match and line.endswith("tollgate-worker"):
                    on = int(match.group(1))
            if on is None:
                continue
            subprocess.run([cluster, "stop-node", str(on)], capture_output=True, timeout=180)
            self.notes.append(f"stopped tg{on}")
            self.injected += 1
            self.pause(3, 5)
            subprocess.run([cluster, "start-node", str(on)], capture_output=True, timeout=300)

    def fault_duplicate_id(self):
        first = self.ctx.workers[0]
        self.pause(3, 4)
        twin = Worker(self.ctx, first.id, db=os.path.join(self.ctx.dir, "twin.db"))
        twin.start(wait=False)
        self.pause(8, 10)
        consumed = "] consuming" in twin.log_text()
        twin.stop()
        self.notes.append(f"same id, other database: {'CONSUMED' if consumed else 'never consumed'}")
        if consumed:
            self.error = "a worker with a running worker's id and another database consumed"
        self.injected += 1
        thief = Worker(self.ctx, "w9", db=first.db)
        thief.start(wait=False)
        code = thief.wait_exit(30)
        text = thief.log_text()
        refused = code not in (None, 0) and "belongs to worker" in text
        self.notes.append(f"other id on w1's database: exit {code}, {'refused' if refused else 'NOT refused'}")
        if not refused:
            thief.stop()
            self.error = f"a worker on another worker's database was not refused (exit {code})"
        self.injected += 1

    def fault_drain_add(self):
        self.pause(4, 6)
        leaving = self.ctx.workers[0]
        leaving.signal(signal.SIGUSR1)
        self.injected += 1
        code = leaving.wait_exit(90)
        self.notes.append(f"{leaving.id} drained, exit {code}")
        if code != 0:
            self.error = f"the drained worker exited {code}"
        added = Worker(self.ctx, "w3")
        added.start()
        self.ctx.workers.append(added)
        self.notes.append("w3 added")
        self.injected += 1

    # The database cannot be written (disk-full, read-only), and the whole broker stops
    # (broker-server). The fault is also the worker's supervisor here: a worker that exits is
    # started again at once (as systemd's Restart=always would), and every such exit is counted.

    def supervise(self, worker, seen=None):
        if worker.process is None or worker.alive():
            return
        code = worker.process.returncode
        self.restarts += 1
        self.notes.append(f"{worker.id} exited {code} during the fault, restarted")
        log(f"fault {self.kind}: {worker.id} exited {code}: restarting it")
        if seen is not None:
            seen["exits"].append(code)
            if len(seen["exits"]) >= 3:
                self.error = f"{worker.id} crash-loops: exits {seen['exits']} in {seen['fault']} {seen['n']}"
        worker.start(wait=False)

    def watch(self, worker, seen, seconds=None, process=None, each=None):
        """For `seconds` (or until `process` ends): supervises, polls /readyz, calls each()."""
        until = time.time() + (seconds or 0)
        while (process.poll() is None) if process is not None else (time.time() < until):
            self.supervise(worker, seen)
            status, body = worker.readiness()
            polls = seen.setdefault("readyz_polls", {})
            polls[str(status)] = polls.get(str(status), 0) + 1
            if status == 503 and seen.get("not_ready_after_s") is None:
                seen["not_ready_after_s"] = round(time.time() - seen["started"], 2)
                seen["readyz"] = body[:200]
            elif status == 200 and seen.get("not_ready_after_s") is not None:
                seen["readyz_200_after_503"] = seen.get("readyz_200_after_503", 0) + 1
            if each is not None:
                each()
            time.sleep(0.2)

    def run_watched(self, command, worker, seen, timeout):
        """Runs `command` while watching the worker; returns (status, output)."""
        out = tempfile.TemporaryFile(mode="w+")
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
        give_up = threading.Timer(timeout, process.kill)
        give_up.start()
        try:
            self.watch(worker, seen, process=process)
        finally:
            give_up.cancel()
            process.wait()
        out.seek(0)
        return process.returncode, out.read().strip()

    def recovered(self, worker, seen, since, timeout=60):
        """Waits until /readyz says ready again; the seconds it took, or None."""
        while time.time() < since + timeout:
            self.supervise(worker, seen)
            if worker.ready():
                return round(time.time() - since, 2)
            time.sleep(0.2)
        return None

    def unwritable(self, what, begin, undo, keep=None):
        """Cycles in which the database cannot be written, under load: 2 in a short run, 3 in a
        long one, each held 4-5 s (6-8 s from 30 s of load on). Each phase records what /readyz
        said, the worker's exits, how many answers came while it lasted (after its first
        second: what was in flight), the worker's queues, the log's reason, and how long the
        worker took to be ready again by itself once the disk could be written."""
        worker = self.ctx.workers[0]
        cycles = 2 if self.seconds < 30 else 3
        holds = (4, 5) if self.seconds < 30 else (6, 8)
        if self.ctx.args.disk_hold:
            holds = (self.ctx.args.disk_hold, self.ctx.args.disk_hold)
        for n in range(1, cycles + 1):
            target = self.ctx.load_started + self.seconds * (n - 1) / cycles + self.random.uniform(1, 2)
            between = time.time() + max(target - time.time(), 1 if n > 1 else 0)
            while time.time() < between:
                self.supervise(worker)
                time.sleep(0.2)
            hold = self.random.uniform(*holds)
            offset = len(worker.log_text())
            seen = {"fault": what, "n": n, "unwritable": True, "hold_s": round(hold, 1), "exits": []}
            seen["started"] = time.time()
            seen.update(begin() or {})
            self.injected += 1
            answers = None
            until = seen["started"] + hold
            while time.time() < until:
                self.watch(worker, seen, seconds=min(0.5, until - time.time()), each=keep)
                if answers is None and time.time() >= seen["started"] + 1:
                    answers = self.ctx.replies_seen()
                if "queues" not in seen and time.time() >= seen["started"] + hold / 2:
                    seen["queues"] = self.ctx.queue_depths(worker)
            seen["answers_while_unwritable"] = self.ctx.replies_seen() - (answers or 0)
            held = worker.log_text()[offset:]
            seen["log_resumed_while_unwritable"] = held.count("the database can be written")
            freed = time.time()
            seen.update(undo() or {})
            seen["ready_again_after_s"] = self.recovered(worker, seen, freed)
            text = worker.log_text()[offset:]
            why = [line for line in text.splitlines() if "cannot write the database" in line]
            seen["log_says_why"] = why[0][-400:] if why else None
            seen["log_lines_cannot_write"] = len(why)
            seen["log_written_again"] = "the database can be written" in text
            del seen["started"]
            self.ctx.record.outages.append(seen)
            log(f"fault {self.kind} {n}: {json.dumps(seen)}")
            if seen["ready_again_after_s"] is None:
                self.error = f"{what} {n}: the worker was not ready again 60 s after the disk could be written"
                return
            if not why:
                self.error = f"{what} {n}: the worker's log never said that it cannot write the database"

    def fault_disk_full(self):
        disk = self.ctx.disk

        def begin():
            before = disk.free_bytes()
            return {"filled_mib": round(disk.fill() / 2**20, 1), "free_mib_before": round(before / 2**20, 1)}

        self.unwritable("disk full", begin, disk.free, keep=disk.top_up)

    def fault_read_only(self):
        disk = self.ctx.disk

        def begin():
            disk.fs_error()
            return {"mount": "read-only" if disk.read_only() else "STILL WRITABLE"}

        self.unwritable("read-only", begin, disk.repair)

    def fault_broker_server(self):
        """The whole RabbitMQ server stopped and started (deploy/broker.sh stop, start), 1-2
        times; the broker is always started again, whatever happened."""
        broker = os.path.join(ROOT, "deploy", "broker.sh")
        worker = self.ctx.workers[0]
        n = 0
        while n < 2 and not self.pause(3, 5) and not (self.end() and n > 0):
            n += 1
            offset = len(worker.log_text())
            seen = {"fault": "broker server stopped", "n": n, "unwritable": False, "exits": []}
            seen["started"] = time.time()
            try:
                status, output = self.run_watched([broker, "stop"], worker, seen, timeout=180)
                seen["stop_s"] = round(time.time() - seen["started"], 1)
                if status != 0:
                    raise RuntimeError(f"deploy/broker.sh stop: {status}: {output[-300:]}")
                self.injected += 1
                self.watch(worker, seen, seconds=self.random.uniform(1, 3))
            finally:
                began = time.time()
                status, output = self.run_watched([broker, "start"], worker, seen, timeout=300)
                seen["start_s"] = round(time.time() - began, 1)
                if status != 0:
                    raise RuntimeError(f"deploy/broker.sh start: {status}: {output[-300:]}")
            seen["worker_ready_after_broker_s"] = self.recovered(worker, seen, time.time(), timeout=90)
            text = worker.log_text()[offset:]
            lost = [line for line in text.splitlines() if "retry_in" in line]
            seen["log_connection_lost"] = lost[0][-300:] if lost else None
            seen["log_reconnected"] = text.count("connected to RabbitMQ")
            del seen["started"]
            self.ctx.record.outages.append(seen)
            log(f"fault {self.kind} {n}: {json.dumps(seen)}")
            if seen["worker_ready_after_broker_s"] is None:
                self.error = f"broker server {n}: the worker was not ready 90 s after the broker was back"
                return


# ---------------------------------------------------------------------------------------------
# One run


class Run:
    def __init__(self, args, fault):
        self.args, self.fault = args, fault
        self.seed = args.seed
        self.binary = os.path.abspath(args.binary)
        self.prefix = f"proof{os.getpid() % 1000}{fault.replace('-', '')[:8]}{random.randrange(1000)}"
        self.dir = tempfile.mkdtemp(prefix=f"proof-{fault}-", dir=args.workdir)
        self.ports = [5701, 5702, 5703] if fault == "cluster-node" else [5672]
        self.record = Record()
        self.stopping = threading.Event()
        self.finished = threading.Event()
        self.workers = []
        self.port = 9300 + random.randrange(500)
        self.feed_queue = f"{self.prefix}.proof.feed"
        self.vote_queue = f"{self.prefix}.proof.votes"
        self.load_started = 0.0
        # The disk faults put the workers' databases on a small file system of their own.
        self.disk = Disk(self, DISK_FAULTS[fault]) if fault in DISK_FAULTS else None
        self.db_dir = self.disk.path if self.disk else self.dir

    def next_port(self):
        self.port += 1
        return self.port

    def declare(self, agents):
        link = Link(self.ports, "guest", "guest", confirm=False)
        channel = link.open()
        for queue in agents.queues() + [self.feed_queue, self.vote_queue, f"{self.prefix}.proof.notices"]:
            quorum(channel, queue)
        channel.queue_bind(self.feed_queue, f"{self.prefix}.decisions", "#")
        channel.queue_bind(f"{self.prefix}.proof.notices", f"{self.prefix}.escalations", "#")
        link.close()

    def replies_seen(self):
        with self.record.lock:
            return sum(len(replies) for replies in self.record.replies.values())

    def queue_depths(self, worker):
        """The worker's input queues: {queue: {"ready": n, "consumers": n}} (a passive declare)."""
        link = Link(self.ports, "guest", "guest", confirm=False)
        depths = {}
        try:
            channel = link.open()
            for kind in ("toolcalls", "approvals"):
                frame = channel.queue_declare(f"{self.prefix}.{kind}.{worker.id}", passive=True)
                depths[kind] = {"ready": frame.method.message_count, "consumers": frame.method.consumer_count}
        except Exception as error:  # noqa: BLE001 - an observation only
            depths["error"] = f"{type(error).__name__}: {error}"
        link.close()
        return depths

    def execute(self):
        try:
            if self.disk:
                self.disk.mount()
            return self.execute_mounted()
        finally:
            for worker in self.workers:
                if worker.alive():
                    worker.process.kill()
                    worker.process.wait()
            if self.disk:
                self.disk.release()

    def execute_mounted(self):
        names = ["w1", "w2"] if self.fault == "drain-add" else ["w1"]
        for name in names:
            worker = Worker(self, name)
            worker.start()
            self.workers.append(worker)
        agents = Agents(self, self.args.seconds, self.args.rate)
        self.declare(agents)
        collector = Collector(self, agents.queues() + [self.feed_queue, self.vote_queue])
        approvers = Approvers(self)
        collector.start()
        approvers.start()
        self.load_started = time.time()
        fault = Fault(self, self.fault, self.args.seconds)
        agents.start()
        fault.start()
        agents.done.wait()
        self.stopping.set()
        fault.join()
        restarts = fault.restarts
        for worker in self.workers:
            if worker.process is not None and not worker.alive() and worker.process.returncode != 0:
                worker.start(wait=False)  # a fault left it down: a supervisor brings it back
                restarts += 1
        self.settle(agents)
        self.finished.set()
        collector.join(10)
        approvers.join(10)
        dead = self.read_dead()
        for worker in self.workers:
            worker.stop()
        audit = [self.verify_audit(w) for w in self.workers]
        counts, info = check(self.record, dead, audit)
        if restarts or self.fault in ("broker-server", *DISK_FAULTS):
            info["supervisor_restarts"] = restarts
        alive_errors = [w.id for w in self.workers if w.process.returncode not in (0, -15, None)]
        result = {
            "fault": self.fault,
            "seconds": self.args.seconds,
            "rate": self.args.rate,
            "calls": agents.published,
            "retries": agents.retried,
            "votes": len(self.record.votes),
            "escalations": len(self.record.pending_notices),
            "injected": fault.injected,
            "notes": fault.notes,
            "fault_error": fault.error,
            "counts": counts,
            "info": info,
            "audit": audit,
            "worker_starts": {w.id: w.starts for w in self.workers},
            "supervisor_restarts": restarts,
            "exit_status": {w.id: w.process.returncode for w in self.workers},
            "dir": self.dir,
        }
        result["passed"] = all(v == 0 for v in counts.values()) and fault.error is None and not alive_errors
        self.cleanup()
        return result

    def settle(self, agents):
        """Waits until every call has a final decision (deadlines included), or gives up."""
        give_up = time.time() + TIMEOUT_SECONDS + self.args.settle
        while time.time() < give_up:
            with self.record.lock:
                open_calls = [m for m, c in self.record.calls.items() if not self.record.finals_of(m)]
                unanswered_votes = [v for v in self.record.votes if not self.record.vote_answers.get(v)]
            if not open_calls and not unanswered_votes:
                break
            time.sleep(0.5)
        time.sleep(1.5)  # the feed and the resolved notices of the last decisions

    def read_dead(self):
        link = Link(self.ports, "guest", "guest", confirm=False)
        channel = link.open()
        dead = []
        while True:
            method, properties, _ = channel.basic_get(f"{self.prefix}.dead", auto_ack=True)
            if method is None:
                break
            dead.append((properties.headers or {}, properties.message_id))
        link.close()
        return dead

    def verify_audit(self, worker):
        done = subprocess.run(
            [self.binary, "audit", "verify", "--db", worker.db], capture_output=True, text=True, timeout=300
        )
        return {"worker": worker.id, "status": done.returncode, "output": done.stdout.strip()[-300:]}

    def cleanup(self):
        if self.disk:
            self.disk.release(keep_into=os.path.join(self.dir, "disk-copy") if self.args.keep else None)
        link = Link(self.ports, "guest", "guest", confirm=False)
        try:
            channel = link.open()
            listing = rabbitmqctl("list_queues", "name", "--no-table-headers", "-q", node=self.node())
            for name in listing.stdout.split():
                if name.startswith(self.prefix + "."):
                    channel.queue_delete(name)
            listing = rabbitmqctl("list_exchanges", "name", "--no-table-headers", "-q", node=self.node())
            for name in listing.stdout.split():
                if name.startswith(self.prefix + "."):
                    channel.exchange_delete(name)
        except Exception as error:  # noqa: BLE001 - cleanup is best effort
            log(f"cleanup: {error}")
        link.close()
        if not self.args.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def node(self):
        return "tg1@localhost" if self.fault == "cluster-node" else None


# ---------------------------------------------------------------------------------------------
# The checker


def worker_of(request_id):
    """The worker id of a request id: everything before the last 37 characters (-<UUID>)."""
    return request_id[:-37]


def final_key(decision):
    return (decision.get("decision"), decision.get("resolution"))


def check(record, dead, audit):
    counts = dict.fromkeys(COUNTS, 0)
    info = defaultdict(int)
    examples = defaultdict(list)

    def bad(name, detail):
        counts[name] += 1
        if len(examples[name]) < 3:
            examples[name].append(detail)

    finals_by_request = defaultdict(set)
    request_of_call = {}
    for message_id, call in record.calls.items():
        replies = record.replies.get(message_id, [])
        request_ids = {r.get("request_id") for r in replies if r.get("request_id")}
        if len(request_ids) > 1:
            # Also across workers: a retry that reached another worker after the ring changed
            # (a drain or an added worker) is answered from the call records handed there.
            workers = {worker_of(r) for r in request_ids}
            where = "across workers" if len(workers) > 1 else "on one worker"
            bad("split", f"{message_id} ({where}): {sorted(request_ids)}")
        finals = [r for r in replies if r.get("final")]
        if not finals:
            bad("lost", f"{message_id} ({call.kind} {call.tool})")
            continue
        request_of_call[message_id] = finals[0].get("request_id")
        for final in finals:
            finals_by_request[final.get("request_id")].add(final_key(final))
        decision = finals[0]
        if call.kind == "allow" and final_key(decision) != ("allow", "policy"):
            bad("wrong", f"{message_id} {call.tool}: {final_key(decision)}")
        elif call.kind == "deny" and final_key(decision) != ("deny", "policy"):
            bad("wrong", f"{message_id} {call.tool}: {final_key(decision)}")
        elif call.kind == "malformed" and final_key(decision) != ("deny", "invalid"):
            bad("wrong", f"{message_id} malformed: {final_key(decision)}")
        elif call.kind == "budget" and final_key(decision) not in (("allow", "policy"), ("deny", "limit")):
            bad("wrong", f"{message_id} budget: {final_key(decision)}")
        elif call.kind == "escalate":
            check_escalation(call, decision, record, bad, info)
        if call.kind == "malformed":
            info["malformed"] += 1
        if len(call.reply_queues) > 1:
            info["retried_to_new_reply_to"] += 1

    for request_id, decisions in record.feed.items():
        finals_by_request[request_id].update(final_key(d) for d in decisions if d.get("final"))
    for request_id, notices in record.resolved.items():
        keys = {final_key(n) for n in notices}
        if len(keys) > 1:
            bad("decided_twice", f"{request_id}: {sorted(keys)}")
        finals_by_request[request_id].update(keys)
    for request_id, keys in finals_by_request.items():
        if len(keys) > 1:
            bad("conflicting", f"{request_id}: {sorted(keys)}")
    for message_id, request_id in request_of_call.items():
        if request_id not in record.feed:
            bad("feed_missing", f"{message_id} -> {request_id}")

    # Votes that had to be rejected: answered accepted, or listed in the final decision.
    for vote in record.votes.values():
        answers = record.vote_answers.get(vote.message_id, [])
        if not answers:
            info["votes_unanswered"] += 1
        accepted = {a.get("accepted") for a in answers}
        if vote.must_reject and True in accepted:
            bad("bad_votes_applied", f"{vote.voter} {vote.decision} on {vote.request_id}: answered accepted")
        if not vote.must_reject and False in accepted:
            info["good_votes_rejected"] += 1  # late (deadline passed, or already decided): allowed

    # Budgets: per agent and session, the allowed calls.
    allowed = defaultdict(int)
    for message_id, call in record.calls.items():
        finals = record.finals_of(message_id)
        if finals and finals[0].get("decision") == "allow":
            allowed[(call.agent, call.session)] += 1
    for key, n in allowed.items():
        if n > BUDGET:
            bad("budget_overspend", f"{key}: {n} allowed, budget {BUDGET}")
    budget_sessions = [n for (agent, _), n in allowed.items() if agent.startswith("agent-budget")]
    info["budget_sessions_allowed"] = budget_sessions

    # Dead letters.
    dead_ids = set()
    for headers, message_id in dead:
        dead_ids.add(message_id)
        if not headers.get("x-tollgate-error"):
            why = headers.get("x-first-death-reason")
            why = why.decode(errors="replace") if isinstance(why, bytes) else why
            bad("dead_no_reason", f"{message_id}: {why or 'dead-lettered'}, headers {sorted(headers)}")
    info["dead_letters"] = len(dead)
    for message_id, call in record.calls.items():
        if call.kind == "malformed" and message_id not in dead_ids:
            bad("malformed_not_dead", message_id)

    for entry in audit:
        if entry["status"] != 0:
            bad("audit_breaks", f"{entry['worker']}: {entry['output']}")

    # Disk faults: while the database could not be written, /readyz must have said not ready.
    for outage in record.outages:
        if outage.get("unwritable") and outage.get("not_ready_after_s") is None:
            polls = outage.get("readyz_polls")
            bad("ready_while_unwritable", f"{outage.get('fault')} {outage.get('n')}: readyz answers {polls}")
    if record.outages:
        info["outages"] = record.outages

    info = dict(info)
    info["examples"] = {k: v for k, v in examples.items() if v}
    return counts, info


def check_escalation(call, decision, record, bad, info):
    """The final decision of an escalated call agrees with the rule and the votes it lists."""
    key, tool = final_key(decision), call.tool
    votes = decision.get("votes") or []
    voters = [v.get("voter") for v in votes]
    allowed_voters = set(APPROVERS[tool])
    if len(voters) != len(set(voters)):
        bad("bad_votes_applied", f"{decision.get('request_id')}: a voter counted twice: {voters}")
    if any(v not in allowed_voters for v in voters):
        bad("bad_votes_applied", f"{decision.get('request_id')}: a voter who is no approver counted: {voters}")
    approvals = {v.get("voter") for v in votes if v.get("decision") == "approve"}
    denials = {v.get("voter") for v in votes if v.get("decision") == "deny"}
    if key == ("allow", "approved"):
        if len(approvals & allowed_voters) < REQUIRED[tool] or denials:
            bad("wrong", f"{decision.get('request_id')} approved with votes {votes}")
        info["approved"] += 1
    elif key == ("deny", "denied"):
        if not denials & allowed_voters:
            bad("wrong", f"{decision.get('request_id')} denied without a denial: {votes}")
        info["denied"] += 1
    elif key == ("deny", "timeout"):
        if len(approvals & allowed_voters) >= REQUIRED[tool] or denials & allowed_voters:
            bad("wrong", f"{decision.get('request_id')} timed out although decided by votes {votes}")
        info["timed_out"] += 1
        planned = [v for v in record.votes.values() if v.request_id == decision.get("request_id")]
        if planned and all(not v.must_reject for v in planned):
            info["timed_out_though_voted"] += 1
    else:
        bad("wrong", f"{decision.get('request_id')} escalated {tool}: {key}")


# ---------------------------------------------------------------------------------------------
# Report


def write_report(results, directory, args):
    os.makedirs(directory, exist_ok=True)
    machine = f"{os.uname().sysname} {os.uname().release}, {os.cpu_count()} cores"
    with open(os.path.join(directory, "proof.json"), "w") as f:
        json.dump({"machine": machine, "command": " ".join(sys.argv), "results": results}, f, indent=2, default=str)
    lines = [
        "# Proof run",
        "",
        f"Command: `{' '.join(['tools/proof/proof.py'] + sys.argv[1:])}`; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())};",
        f"machine: {machine}; seed {args.seed}; {args.seconds} s of load per fault at {args.rate} calls/s.",
        "",
        "| fault | injected | calls | retries | escalations | votes | "
        + " | ".join(c.replace("_", " ") for c in COUNTS)
        + " | result |",
        "|---" * (len(COUNTS) + 7) + "|",
    ]
    for r in results:
        cells = [r["fault"], r["injected"], r["calls"], r["retries"], r["escalations"], r["votes"]]
        cells += [r["counts"][c] for c in COUNTS]
        cells.append("pass" if r["passed"] else "**FAIL**")
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    lines.append("")
    for r in results:
        notes = "; ".join(r["notes"]) or "-"
        info = {k: v for k, v in r["info"].items() if k not in ("examples", "outages")}
        lines.append(f"- **{r['fault']}**: {notes}. Outcomes: {json.dumps(info)}. Worker starts {r['worker_starts']}.")
        for outage in r["info"].get("outages", []):
            seen = {k: v for k, v in outage.items() if k not in ("fault", "n")}
            lines.append(f"  {outage['fault']} {outage['n']}: {json.dumps(seen)}")
        if r["fault_error"]:
            lines.append(f"  Fault error: {r['fault_error']}")
        for name, examples in r["info"].get("examples", {}).items():
            lines.append(f"  {name}: {examples}")
    with open(os.path.join(directory, "proof.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fault", default="none", help=f"one of {', '.join(FAULTS)}, a comma list, or all")
    parser.add_argument("--seconds", type=float, default=30, help="seconds of load (and of faults) per run")
    parser.add_argument("--rate", type=float, default=150, help="calls per second offered")
    parser.add_argument("--settle", type=float, default=60, help="seconds to wait for the last decisions")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build/debug/tollgate"))
    parser.add_argument("--workdir", default=None, help="where the databases and logs go (default /tmp)")
    parser.add_argument("--report", default=None, help="folder for proof.md and proof.json")
    parser.add_argument("--keep", action="store_true", help="keep the databases and logs")
    parser.add_argument(
        "--disk-hold", type=float, default=None,
        help="seconds each disk-full or read-only phase lasts (default 4-5, from 30 s of load on 6-8)",
    )
    args = parser.parse_args()
    faults = FAULTS if args.fault == "all" else args.fault.split(",")
    for fault in faults:
        if fault not in FAULTS:
            parser.error(f"unknown fault '{fault}'; known: {', '.join(FAULTS)}")
    if os.geteuid() != 0 and any(f in DISK_FAULTS for f in faults):
        if args.fault != "all":
            parser.error(f"{', '.join(DISK_FAULTS)} mount a file system for the database: run as root")
        faults = [f for f in faults if f not in DISK_FAULTS]
        log(f"not root: {', '.join(DISK_FAULTS)} left out (they mount a file system)")
    results = []
    for fault in faults:
        log(f"{fault}: {args.seconds:g} s of load at {args.rate:g} calls/s")
        started = time.time()
        result = Run(args, fault).execute()
        result["wall_seconds"] = round(time.time() - started, 1)
        counts = " ".join(f"{k}={v}" for k, v in result["counts"].items())
        log(
            f"{fault}: {'PASS' if result['passed'] else 'FAIL'} in {result['wall_seconds']} s; "
            f"{result['calls']} calls, {result['escalations']} escalations, {result['votes']} votes, "
            f"{result['injected']} faults; {counts}"
        )
        if not result["passed"]:
            log(f"{fault}: details {json.dumps(result['info'].get('examples'))} {result['fault_error'] or ''}")
        results.append(result)
    if args.report:
        print(write_report(results, args.report, args))
    failed = [r["fault"] for r in results if not r["passed"]]
    if failed:
        log(f"FAILED: {', '.join(failed)}")
        return 1
    log(f"all {len(results)} runs passed: 0 lost, 0 split, 0 conflicting")
    return 0


if __name__ == "__main__":
    sys.exit(main())
