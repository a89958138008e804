#!/usr/bin/env python3
"""The job of `tollgate worker` as a Python team would write it, and a load generator for it.

The gate (`serve`): pika and agent-os-kernel 3.7.0's `PolicyEvaluator` on the seed policy
(policies/approval-workflow.yaml). It declares the topology of the wire protocol's tool calls
(docs/wire-protocol.md): the `x-consistent-hash` exchange `<prefix>.toolcalls` and one durable
quorum queue `<prefix>.toolcalls.py` bound to it, as `tollgate worker` does, so that the same load
(`tollgate-bench load --prefix <prefix>`, or `bench` below) drives either. It consumes with manual
acks and a prefetch, evaluates each call, publishes the decision (persistent) to the call's
`reply_to` with publisher confirms, and acks the call only once its decision is confirmed.

Two forms, `--connection`:
  select    pika's SelectConnection (asynchronous): decisions are published without waiting, the
            confirms arrive in the background and each confirmed run of calls is acked with one
            `multiple` ack. The efficient form, and the default.
  blocking  pika's BlockingConnection with confirm_delivery(): each publish waits for its confirm
            before the call is acked. The form most examples show.

What it does not do, against `tollgate worker`: no database (no idempotency by message_id, no
audit trail, no budgets such as `max_tool_calls`), no escalations (a rule whose message asks for
human approval is a plain deny, as agent-os decides), no decision feed, no dead-lettering beyond a
reject of malformed input.

The load generator (`bench`): starts a gate in a subprocess on a new prefix, then publishes
--warmup (not measured) and --messages tool calls shaped as `tollgate-bench worker` sends them
(1,000 agents, routing key = agent_id, a unique message_id, 256-byte bodies, search_documents,
search_documents, read_file, delete_database in turn), persistent, with publisher confirms and at
most --confirm-window unconfirmed, and counts the replies on a private queue: decisions/s =
replies / (first publish -> last reply). It is Python too (SelectConnection, one thread) and
shares the cores with the gate and the broker; its own CPU per message is reported.

Usage:
  python3 benchmarks/python_gate.py serve --prefix pygate [--connection select|blocking]
  python3 benchmarks/python_gate.py bench --messages 50000 [--connection select|blocking] [--json]
  pip install pika agent-os-kernel==3.7.0 pyyaml
"""
import argparse
import collections
import json
import logging
import os
import random
import resource
import signal
import subprocess
import sys
import time
import uuid
import warnings

import pika

warnings.filterwarnings("ignore", category=DeprecationWarning)
logging.getLogger("pika").setLevel(logging.WARNING)

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = os.path.join(HERE, "..", "policies", "approval-workflow.yaml")
DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/"
TOOLS = ["search_documents", "search_documents", "read_file", "delete_database"]


# ---------------------------------------------------------------- the gate

def make_decider(policy_path):
    from agent_os.policies import PolicyEvaluator
    from agent_os.policies.schema import PolicyDocument

    doc = PolicyDocument.from_yaml(policy_path)
    evaluator = PolicyEvaluator(policies=[doc])
    version = "%s@%s" % (doc.name, doc.version)

    def decide(body, correlation_id):
        """The reply body for a tool call's body, or None when the call is malformed."""
        try:
            call = json.loads(body)
        except ValueError:
            return None
        if not isinstance(call, dict):
            return None
        agent, tool = call.get("agent_id"), call.get("tool_name")
        if not isinstance(agent, str) or not agent or not isinstance(tool, str) or not tool:
            return None
        # What policy conditions see (as Tollgate builds it): every key of `context` at top
        # level, then tool_name, agent_id, reason, arguments.
        context = call.get("context")
        ctx = dict(context) if isinstance(context, dict) else {}
        ctx["tool_name"] = tool
        ctx["agent_id"] = agent
        arguments = call.get("arguments")
        ctx["arguments"] = arguments if isinstance(arguments, dict) else {}
        if isinstance(call.get("reason"), str):
            ctx["reason"] = call["reason"]
        d = evaluator.evaluate(ctx)
        return json.dumps({
            "request_id": str(uuid.uuid4()), "correlation_id": correlation_id, "agent_id": agent,
            "tool_name": tool, "decision": "allow" if d.allowed else "deny", "final": True,
            "resolution": "policy", "rule": d.matched_rule, "reason": d.reason, "approvers": [],
            "policy_version": version,
        }, separators=(",", ":")).encode()

    return decide


def declare(channel, prefix):
    """The tool-call exchange and this gate's shard queue, as `tollgate worker` declares them."""
    queue = "%s.toolcalls.py" % prefix
    channel.exchange_declare(exchange=prefix + ".toolcalls", exchange_type="x-consistent-hash", durable=True)
    channel.queue_declare(queue=queue, durable=True, arguments={"x-queue-type": "quorum"})
    channel.queue_bind(queue=queue, exchange=prefix + ".toolcalls", routing_key="10")
    return queue


REPLY_PROPERTIES = dict(delivery_mode=2, content_type="application/json")


def serve_blocking(args, decide):
    conn = pika.BlockingConnection(pika.URLParameters(args.amqp_url))
    ch = conn.channel()
    queue = declare(ch, args.prefix)
    ch.confirm_delivery()
    ch.basic_qos(prefetch_count=args.prefetch)
    stats = {"decided": 0, "rejected": 0}

    def on_message(ch, method, props, body):
        reply = decide(body, props.correlation_id)
        if reply is None:
            ch.basic_reject(method.delivery_tag, requeue=False)
            stats["rejected"] += 1
            return
        if props.reply_to:
            # Returns once the broker has confirmed it (raises on a nack).
            ch.basic_publish("", props.reply_to, reply,
                             pika.BasicProperties(correlation_id=props.correlation_id, **REPLY_PROPERTIES))
        ch.basic_ack(method.delivery_tag)
        stats["decided"] += 1

    ch.basic_consume(queue, on_message)
    signal.signal(signal.SIGTERM, lambda *_: conn.add_callback_threadsafe(ch.stop_consuming))
    signal.signal(signal.SIGINT, lambda *_: conn.add_callback_threadsafe(ch.stop_consuming))
    print("ready", flush=True)
    ch.start_consuming()
    conn.close()
    print(json.dumps(stats), flush=True)


class SelectGate:
    """SelectConnection: publish each decision at once, ack inputs as their decisions are confirmed."""

    def __init__(self, args, decide):
        self.args, self.decide = args, decide
        self.channel = None
        self.published = 0  # publish sequence numbers on the channel: 1, 2, ...
        self.confirmed_through = 0  # every decision up to here is confirmed
        self.confirmed_singles = set()
        self.waiting = collections.deque()  # (sequence of the last decision before it, input tag)
        self.stopping = False
        self.stats = {"decided": 0, "rejected": 0, "nacked": 0, "ack_frames": 0}
        self.conn = pika.SelectConnection(pika.URLParameters(args.amqp_url), on_open_callback=self.on_open,
                                          on_open_error_callback=self.on_fail, on_close_callback=self.on_closed)

    def on_fail(self, _conn, error):
        print("connection failed: %s" % error, file=sys.stderr, flush=True)
        self.conn.ioloop.stop()

    def on_closed(self, _conn, reason):
        if not self.stopping:
            print("connection closed: %s" % reason, file=sys.stderr, flush=True)
        self.conn.ioloop.stop()

    def on_open(self, conn):
        conn.channel(on_open_callback=self.on_channel)

    def on_channel(self, ch):
        self.channel = ch
        # The topology on this channel, in order, through callbacks.
        prefix = self.args.prefix
        self.queue = "%s.toolcalls.py" % prefix

        def bound(_):
            ch.confirm_delivery(self.on_confirm)
            ch.basic_qos(prefetch_count=self.args.prefetch, callback=consume)

        def consume(_):
            ch.basic_consume(self.queue, self.on_message)
            print("ready", flush=True)

        ch.exchange_declare(
            exchange=prefix + ".toolcalls", exchange_type="x-consistent-hash", durable=True,
            callback=lambda _: ch.queue_declare(
                self.queue, durable=True, arguments={"x-queue-type": "quorum"},
                callback=lambda _: ch.queue_bind(self.queue, prefix + ".toolcalls", routing_key="10",
                                                 callback=bound)))

    def on_message(self, ch, method, props, body):
        reply = self.decide(body, props.correlation_id)
        if reply is None:
            # Settled at once; a later `multiple` ack does not cover a delivery already rejected.
            ch.basic_reject(method.delivery_tag, requeue=False)
            self.stats["rejected"] += 1
            return
        if props.reply_to:
            ch.basic_publish("", props.reply_to, reply,
                             pika.BasicProperties(correlation_id=props.correlation_id, **REPLY_PROPERTIES))
            self.published += 1
        self.waiting.append((self.published, method.delivery_tag))
        self.flush_acks()

    def on_confirm(self, frame):
        m = frame.method
        if isinstance(m, pika.spec.Basic.Nack):
            # A benchmark has no recovery story: count it, treat the decision as delivered.
            self.stats["nacked"] += 1
        if m.multiple:
            self.confirmed_through = max(self.confirmed_through, m.delivery_tag)
        else:
            self.confirmed_singles.add(m.delivery_tag)
        while self.confirmed_through + 1 in self.confirmed_singles:
            self.confirmed_singles.discard(self.confirmed_through + 1)
            self.confirmed_through += 1
        self.flush_acks()

    def flush_acks(self):
        last = None
        while self.waiting and self.waiting[0][0] <= self.confirmed_through:
            last = self.waiting.popleft()[1]
            self.stats["decided"] += 1
        if last is not None:
            self.channel.basic_ack(last, multiple=True)
            self.stats["ack_frames"] += 1
        if self.stopping and not self.waiting:
            self.conn.close()

    def stop(self):
        if self.stopping:
            return
        self.stopping = True
        if self.channel is not None and self.channel.is_open:
            self.channel.basic_cancel(self.channel.consumer_tags[0] if self.channel.consumer_tags else "",
                                      callback=lambda _: self.flush_acks())
        else:
            self.conn.close()

    def run(self):
        signal.signal(signal.SIGTERM, lambda *_: self.conn.ioloop.add_callback_threadsafe(self.stop))
        signal.signal(signal.SIGINT, lambda *_: self.conn.ioloop.add_callback_threadsafe(self.stop))
        self.conn.ioloop.start()
        print(json.dumps(self.stats), flush=True)


def serve(args):
    decide = make_decider(args.policy)
    if args.connection == "blocking":
        serve_blocking(args, decide)
    else:
        SelectGate(args, decide).run()


# ---------------------------------------------------------------- the load generator

def tool_call(index, agents, body_bytes, tag):
    """The bytes ToolCallMix.body in Sources/tollgate-bench/ToolCallLoad.swift builds."""
    head = '{"agent_id":"agent-%d","tool_name":"%s","arguments":{"query":"quarterly report %d","padding":"' % (
        index % agents, TOOLS[index % len(TOOLS)], index)
    tail = '"},"context":{"session_id":"%s-%d","environment":"production"}}' % (tag, index // (agents * 8))
    fixed_tail = len('"},"context":{"session_id":"') + len(tag) + 12 + len('","environment":"production"}}')
    return (head + "x" * max(0, body_bytes - len(head) - fixed_tail) + tail).encode()


class Load:
    """Publishes `messages` tool calls with pipelined confirms and counts distinct replies."""

    def __init__(self, args, prefix, messages, tag):
        self.args, self.prefix, self.messages, self.tag = args, prefix, messages, tag
        self.sent_at = [0] * messages
        self.seen = bytearray(messages)
        self.latencies = []
        self.decisions = collections.Counter()
        self.replies = self.duplicates = self.published = self.confirmed = self.nacked = 0
        self.first_publish = self.last_reply = self.last_confirm = 0
        self.last_progress = time.monotonic()
        self.error = None
        self.conn = pika.SelectConnection(pika.URLParameters(args.amqp_url), on_open_callback=self.on_open,
                                          on_open_error_callback=self.on_fail, on_close_callback=self.on_closed)

    def on_fail(self, _conn, error):
        self.error = "connection failed: %s" % error
        self.conn.ioloop.stop()

    def on_closed(self, _conn, reason):
        if self.replies < self.messages and self.error is None:
            self.error = "connection closed: %s" % reason
        self.conn.ioloop.stop()

    def on_open(self, conn):
        conn.channel(on_open_callback=self.on_collector)

    def on_collector(self, ch):
        self.collector = ch
        ch.queue_declare("", exclusive=True, auto_delete=True, callback=self.on_reply_queue)

    def on_reply_queue(self, frame):
        self.reply_queue = frame.method.queue
        self.collector.basic_consume(self.reply_queue, self.on_reply, auto_ack=True,
                                     callback=lambda _: self.conn.channel(on_open_callback=self.on_publisher))

    def on_publisher(self, ch):
        self.publisher = ch
        ch.confirm_delivery(self.on_confirm, callback=lambda _: self.publish_more())
        self.conn.ioloop.call_later(0.2, self.watchdog)

    def publish_more(self):
        window = self.args.confirm_window
        a = self.args
        exchange = self.prefix + ".toolcalls"
        while self.published < self.messages and self.published - self.confirmed < window:
            i = self.published
            now = time.monotonic_ns()
            if i == 0:
                self.first_publish = now
            self.sent_at[i] = now
            self.publisher.basic_publish(
                exchange, "agent-%d" % (i % a.agents), tool_call(i, a.agents, a.body_bytes, self.tag),
                pika.BasicProperties(delivery_mode=2, content_type="application/json", reply_to=self.reply_queue,
                                     correlation_id="%d:%d" % (i, now), message_id="%s-%d" % (self.tag, i)))
            self.published += 1

    def on_confirm(self, frame):
        m = frame.method
        count = (m.delivery_tag - self.confirmed) if m.multiple else 1
        if isinstance(m, pika.spec.Basic.Nack):
            self.nacked += count
        self.confirmed += count
        if self.confirmed >= self.messages:
            self.last_confirm = time.monotonic_ns()
        self.publish_more()

    def on_reply(self, _ch, _method, props, body):
        now = time.monotonic_ns()
        try:
            index = int((props.correlation_id or "").split(":", 1)[0])
        except ValueError:
            return
        if not 0 <= index < self.messages:
            return
        if self.seen[index]:
            self.duplicates += 1
            return
        self.seen[index] = 1
        self.replies += 1
        self.last_reply = now
        self.last_progress = time.monotonic()
        self.latencies.append(now - self.sent_at[index])
        try:
            self.decisions[json.loads(body).get("decision", "?")] += 1
        except ValueError:
            self.decisions["?"] += 1
        if self.replies == self.messages:
            self.conn.close()

    def watchdog(self):
        if time.monotonic() - self.last_progress > 30:
            self.error = "no reply for 30 s (%d of %d)" % (self.replies, self.messages)
            self.conn.close()
            return
        self.conn.ioloop.call_later(0.2, self.watchdog)

    def run(self):
        self.conn.ioloop.start()
        if self.error:
            raise SystemExit("python_gate: " + self.error)
        return self


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def broker_pid():
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/comm" % entry) as f:
                    if f.read().strip() == "beam.smp":
                        return int(entry)
            except OSError:
                pass
    return None


def own_cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def delete_topology(url, prefix):
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    ch.queue_delete("%s.toolcalls.py" % prefix)
    ch.exchange_delete(prefix + ".toolcalls")
    conn.close()


def percentile(sorted_values, p):
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, int(round(p / 100.0 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def bench(args):
    prefix = "pygate%08x" % random.getrandbits(32)
    gate = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "serve", "--prefix", prefix, "--connection", args.connection,
         "--prefetch", str(args.prefetch), "--amqp-url", args.amqp_url, "--policy", args.policy],
        stdout=subprocess.PIPE, text=True)
    try:
        line = gate.stdout.readline().strip()
        if line != "ready":
            raise SystemExit("python_gate: the gate did not start (%r)" % line)
        rss_idle = rss_kib(gate.pid)
        if args.warmup:
            Load(args, prefix, args.warmup, "warm").run()
        broker = broker_pid()
        before = (cpu_seconds(gate.pid), own_cpu(), broker and cpu_seconds(broker))
        load = Load(args, prefix, args.messages, "m").run()
        after = (cpu_seconds(gate.pid), own_cpu(), broker and cpu_seconds(broker))
        rss_loaded = rss_kib(gate.pid)
    finally:
        gate.send_signal(signal.SIGTERM)
        try:
            gate.wait(timeout=30)
        except subprocess.TimeoutExpired:
            gate.kill()
        delete_topology(args.amqp_url, prefix)

    n = args.messages
    elapsed = (load.last_reply - load.first_publish) / 1e9
    lat = sorted(load.latencies)

    def us(i):
        return None if after[i] is None or before[i] is None else round((after[i] - before[i]) * 1e7 / n) / 10

    from importlib.metadata import version
    result = {
        "benchmark": "python_gate", "connection": args.connection, "prefetch": args.prefetch,
        "messages": n, "warmup": args.warmup, "agents": args.agents, "body_bytes": args.body_bytes,
        "confirm_window": args.confirm_window, "replies": load.replies, "duplicates": load.duplicates,
        "nacked": load.nacked, "decisions": dict(load.decisions),
        "messages_per_second": round(load.replies / elapsed, 1) if elapsed > 0 else 0,
        "publish_messages_per_second": round(n / ((load.last_confirm - load.first_publish) / 1e9), 1)
        if load.last_confirm > load.first_publish else None,
        "elapsed_seconds": elapsed,
        "latency_ms": {k: percentile(lat, p) / 1e6 for k, p in
                       (("p50", 50), ("p90", 90), ("p99", 99), ("p99.9", 99.9), ("max", 100))},
        "cpu": {"gate_us_per_message": us(0), "load_generator_us_per_message": us(1),
                "broker_us_per_message": us(2)},
        "gate_rss_idle_kib": rss_idle, "gate_rss_loaded_kib": rss_loaded,
        "python": sys.version.split()[0], "pika": pika.__version__, "agent_os_kernel": version("agent-os-kernel"),
    }
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        print("python gate (%s): %.0f decisions/s, replies %d of %d, p50 %.1f ms p99 %.1f ms; CPU per decision: "
              "gate %s us, load generator %s us, broker %s us" % (
                  args.connection, result["messages_per_second"], load.replies, n, result["latency_ms"]["p50"],
                  result["latency_ms"]["p99"], us(0), us(1), us(2)))
    if load.replies < n:
        sys.exit(1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    for name in ("serve", "bench"):
        p = sub.add_parser(name)
        p.add_argument("--connection", choices=("select", "blocking"), default="select")
        p.add_argument("--prefetch", type=int, default=1000)
        p.add_argument("--amqp-url", default=DEFAULT_URL)
        p.add_argument("--policy", default=SEED)
    s = sub.choices["serve"]
    s.add_argument("--prefix", default="pygate")
    b = sub.choices["bench"]
    b.add_argument("--messages", type=int, default=50000)
    b.add_argument("--warmup", type=int, default=5000)
    b.add_argument("--agents", type=int, default=1000)
    b.add_argument("--body-bytes", type=int, default=256)
    b.add_argument("--confirm-window", type=int, default=1000)
    b.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()
    serve(args) if args.command == "serve" else bench(args)


if __name__ == "__main__":
    main()
