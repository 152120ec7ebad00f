#!/usr/bin/env python3
"""A Consul API double for the gateway's tests (no Consul binary is packaged).

It follows Consul's documented HTTP API where the gateway uses it:

  GET  /v1/health/service/:service   ?passing ?tag (repeatable) ?dc
                                     ?index ?wait (blocking queries)
  PUT  /v1/catalog/register          a node, a service, its checks
  PUT  /v1/catalog/deregister        a node, a service or a check
  GET  /v1/status/leader

Blocking queries (api-docs/features/blocking): with index=N > 0 the reply
waits while the service's index is still <= N, up to wait (default 5m,
at most 10m) plus a random jitter of up to wait/16, as Consul adds. Every
reply carries X-Consul-Index (at least 1), X-Consul-Knownleader and
X-Consul-Lastcontact; bodies up to 2048 bytes go with Content-Length and
longer ones chunked, as Go's net/http sends them.

ACLs (api-docs/index, "Authentication"): with --token SECRET=POLICY the
double enforces tokens given in X-Consul-Token, "Authorization: Bearer" or
?token=. An unknown token is refused with 403 "ACL not found"; a known
token without service:read sees the entries it may not read filtered out
(and X-Consul-Results-Filtered-By-ACLs: true), as Consul's health endpoint
does; writes without a write policy get 403 "Permission denied". POLICY is
"write" (everything) or a comma-separated list of services it may read.
Requests without a token use --anonymous (deny, the default, or read).

Its own endpoints (not Consul's) drive the tests:

  PUT    /double/check/:check_id/:status   flip a check (passing, warning,
                                           critical)
  PUT    /double/fault/:name               switch a fault on
  DELETE /double/fault/:name               and off (DELETE /double/fault: all)
  POST   /double/reset-index?to=N          indexes go back to N (a snapshot
                                           restore); blocked queries keep
                                           waiting, as Consul's do
  GET    /double/requests                  the health queries seen, oldest
                                           first (path, query, token)
  DELETE /double/requests                  forget them
  DELETE /double/catalog                   forget every node, service,
                                           check, fault and request (the
                                           index keeps growing)

Faults: hang (read the request, never answer), error500, malformed (a body
cut in half), close (close without answering), never_block (ignore index),
index_zero (X-Consul-Index: 0), no_index (no X-Consul-Index),
empty_service_address (Service.Address ""), ipv6 (127.x service addresses
become ::1), missing_checks (no "Checks" key), duplicates (every entry
twice), tiny_chunks (chunked, in pieces of 1 to 7 bytes).
"""

import argparse
import json
import os
import random
import re
import signal
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_WAIT = 600.0
DEFAULT_WAIT = 300.0
JITTER_FRACTION = 16
GO_BUFFER = 2048          # net/http's bufferBeforeChunkingSize

FAULTS = {
    "hang", "error500", "malformed", "close", "never_block", "index_zero",
    "no_index", "empty_service_address", "ipv6", "missing_checks",
    "duplicates", "tiny_chunks",
}

GO_UNITS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "ms": 1e-3, "s": 1.0,
            "m": 60.0, "h": 3600.0}


def go_duration(text):
    """Seconds in a Go duration ("10s", "5m", "1m30s", "250ms"), or None."""
    if text in ("0",):
        return 0.0
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|\u00b5s|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * GO_UNITS[u] for n, u in parts)


def go_bool(text):
    """strconv.ParseBool, with Consul's "present means true"."""
    if text == "":
        return True
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return None


class State:
    """The catalog: nodes, service instances and checks, with raft-like
    indexes (every write takes the next one)."""

    def __init__(self, datacenter):
        self.datacenter = datacenter
        self.cond = threading.Condition()
        self.index = 1
        self.nodes = {}          # name -> node dict
        self.services = {}       # (node, service id) -> service dict
        self.checks = {}         # (node, check id) -> check dict
        self.service_index = {}  # service name -> index of its last change
        self.faults = set()
        self.requests = []

    def _bump(self, *names):
        self.index += 1
        for name in names:
            if name:
                self.service_index[name] = self.index
        self.cond.notify_all()
        return self.index

    def _services_on(self, node):
        return [s["Service"] for (n, _), s in self.services.items() if n == node]

    def register(self, body):
        node = body.get("Node")
        address = body.get("Address")
        if not node or not address:
            raise ValueError("Must provide node and address")
        svc = body.get("Service") or {}
        # what Go's JSON decoding into Consul's structs refuses
        if not isinstance(svc.get("Port", 0), int) or any(
                not isinstance(v, int) for v in (svc.get("Weights") or {}).values()):
            raise ValueError("json: cannot unmarshal string into Go struct field")
        with self.cond:
            affected = set(self._services_on(node))
            index = self._bump()
            old = self.nodes.get(node)
            self.nodes[node] = {
                "ID": body.get("ID", ""),
                "Node": node,
                "Address": address,
                "Datacenter": body.get("Datacenter") or self.datacenter,
                "TaggedAddresses": body.get("TaggedAddresses")
                or {"lan": address, "wan": address},
                "Meta": body.get("NodeMeta") or {},
                "CreateIndex": old["CreateIndex"] if old else index,
                "ModifyIndex": index,
            }
            svc = body.get("Service")
            if svc:
                sid = svc.get("ID") or svc.get("Service")
                name = svc.get("Service")
                if not name:
                    raise ValueError("Must provide service name")
                prev = self.services.get((node, sid))
                weights = svc.get("Weights") or {"Passing": 1, "Warning": 1}
                entry = {
                    "ID": sid,
                    "Service": name,
                    "Tags": svc.get("Tags") or [],
                    "Address": svc.get("Address", ""),
                    "Meta": svc.get("Meta") or {},
                    "Port": svc.get("Port", 0),
                    "Weights": weights,
                    "EnableTagOverride": False,
                    "Namespace": "default",
                    "CreateIndex": prev["CreateIndex"] if prev else index,
                    "ModifyIndex": index,
                }
                if svc.get("TaggedAddresses"):
                    entry["TaggedAddresses"] = svc["TaggedAddresses"]
                self.services[(node, sid)] = entry
                affected.add(name)
            checks = list(body.get("Checks") or [])
            if body.get("Check"):
                checks.append(body["Check"])
            for c in checks:
                cid = c.get("CheckID") or c.get("Name")
                sid = c.get("ServiceID", "")
                service = self.services.get((node, sid)) if sid else None
                prev = self.checks.get((node, cid))
                self.checks[(node, cid)] = {
                    "Node": node,
                    "CheckID": cid,
                    "Name": c.get("Name", cid),
                    "Status": c.get("Status", "critical"),
                    "Notes": c.get("Notes", ""),
                    "Output": c.get("Output", ""),
                    "ServiceID": sid,
                    "ServiceName": service["Service"] if service else "",
                    "ServiceTags": service["Tags"] if service else [],
                    "Type": c.get("Type", ""),
                    "Namespace": "default",
                    "CreateIndex": prev["CreateIndex"] if prev else index,
                    "ModifyIndex": index,
                }
                if service:
                    affected.add(service["Service"])
                else:
                    affected |= set(self._services_on(node))
            for name in affected:
                self.service_index[name] = index

    def deregister(self, body):
        node = body.get("Node")
        if not node:
            raise ValueError("Must provide node")
        with self.cond:
            affected = set()
            if body.get("ServiceID"):
                svc = self.services.pop((node, body["ServiceID"]), None)
                if svc:
                    affected.add(svc["Service"])
                for key in [k for k, c in self.checks.items()
                            if k[0] == node and c["ServiceID"] == body["ServiceID"]]:
                    del self.checks[key]
            elif body.get("CheckID"):
                check = self.checks.pop((node, body["CheckID"]), None)
                if check and check["ServiceName"]:
                    affected.add(check["ServiceName"])
                elif check:
                    affected |= set(self._services_on(node))
            else:
                affected |= set(self._services_on(node))
                self.nodes.pop(node, None)
                for key in [k for k in self.services if k[0] == node]:
                    del self.services[key]
                for key in [k for k in self.checks if k[0] == node]:
                    del self.checks[key]
            self._bump(*affected)

    def set_check(self, check_id, status):
        with self.cond:
            found = [c for (n, cid), c in self.checks.items() if cid == check_id]
            if not found:
                return False
            index = self._bump()
            for c in found:
                c["Status"] = status
                c["ModifyIndex"] = index
                names = [c["ServiceName"]] if c["ServiceName"] \
                    else self._services_on(c["Node"])
                for name in names:
                    self.service_index[name] = index
            return True

    def clear(self):
        with self.cond:
            self.nodes.clear()
            self.services.clear()
            self.checks.clear()
            self.faults.clear()
            self.requests.clear()
            # what was deregistered changed: blocked queries see it
            self._bump(*list(self.service_index))

    def reset_index(self, to):
        with self.cond:
            self.index = to
            for name in self.service_index:
                self.service_index[name] = to
            self.cond.notify_all()

    def service_idx(self, name):
        return max(1, self.service_index.get(name, 1))

    def entries(self, name, tags, passing):
        out = []
        for (node, sid), svc in sorted(self.services.items()):
            # Consul matches tags without regard to case
            have = {t.lower() for t in svc["Tags"]}
            if svc["Service"] != name or not all(t.lower() in have for t in tags):
                continue
            checks = [c for (n, _), c in sorted(self.checks.items())
                      if n == node and c["ServiceID"] in ("", sid)]
            if passing and any(c["Status"] != "passing" for c in checks):
                continue
            out.append({"Node": dict(self.nodes[node]), "Service": dict(svc),
                        "Checks": [dict(c) for c in checks]})
        return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "consul-double"

    def setup(self):
        super().setup()
        # Go's net/http (Consul's server) sets TCP_NODELAY: without it the
        # body, written after the header, would wait for a delayed ACK
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    # ---- plumbing ----

    def _state(self):
        return self.server.state

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status, body, headers=(), chunks=None):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("X-Consul-Default-Acl-Policy",
                         "deny" if self.server.tokens else "allow")
        if chunks is None and len(body) <= GO_BUFFER:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sizes = chunks or (lambda: 4096)
        i = 0
        while i < len(body):
            piece = body[i:i + sizes()]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            i += len(piece)
        self.wfile.write(b"0\r\n\r\n")

    def _text(self, status, text):
        self._send(status, text.encode(), [("Content-Type", "text/plain; charset=utf-8")])

    def _token(self, query):
        token = self.headers.get("X-Consul-Token")
        auth = self.headers.get("Authorization", "")
        if token is None and auth.startswith("Bearer "):
            token = auth[len("Bearer "):]
        if token is None and "token" in query:
            token = query["token"][0]
        return token

    def _policy(self, query):
        """(policy, known token) or None after answering 403."""
        tokens = self.server.tokens
        if not tokens:
            return "write", False
        token = self._token(query)
        if token is None or token == "":
            return self.server.anonymous, False
        if token not in tokens:
            self._text(403, "ACL not found")
            return None
        return tokens[token], True

    @staticmethod
    def _may_read(policy, service):
        if policy == "write" or policy == "read":
            return True
        if policy == "deny":
            return False
        return service in policy

    # ---- routes ----

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        if url.path.startswith("/v1/health/service/"):
            return self.health_service(urllib.parse.unquote(url.path[len("/v1/health/service/"):]), query)
        if url.path == "/v1/status/leader":
            return self._send(200, b'"127.0.0.1:8300"', [("Content-Type", "application/json")])
        if url.path == "/double/requests":
            with self._state().cond:
                body = json.dumps(self._state().requests).encode()
            return self._send(200, body, [("Content-Type", "application/json")])
        self._text(404, "404 page not found")

    def do_PUT(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        body = self._body()
        state = self._state()
        if url.path in ("/v1/catalog/register", "/v1/catalog/deregister"):
            acl = self._policy(query)
            if acl is None:
                return
            if acl[0] != "write":
                return self._text(403, "Permission denied")
            try:
                data = json.loads(body or b"{}")
                if url.path.endswith("/register"):
                    state.register(data)
                else:
                    state.deregister(data)
            except (ValueError, AttributeError, TypeError) as e:
                return self._text(400, "Request decode failed: %s" % e)
            return self._send(200, b"true", [("Content-Type", "application/json")])
        m = re.fullmatch(r"/double/check/([^/]+)/(passing|warning|critical)", url.path)
        if m:
            found = state.set_check(urllib.parse.unquote(m.group(1)), m.group(2))
            return self._text(200 if found else 404, "ok" if found else "no such check")
        m = re.fullmatch(r"/double/fault/([a-z0-9_]+)", url.path)
        if m and m.group(1) in FAULTS:
            with state.cond:
                state.faults.add(m.group(1))
                state.cond.notify_all()
            return self._text(200, "ok")
        self._text(404, "404 page not found")

    def do_DELETE(self):
        url = urllib.parse.urlsplit(self.path)
        state = self._state()
        self._body()
        m = re.fullmatch(r"/double/fault(?:/([a-z0-9_]+))?", url.path)
        if m:
            with state.cond:
                if m.group(1):
                    state.faults.discard(m.group(1))
                else:
                    state.faults.clear()
                state.cond.notify_all()
            return self._text(200, "ok")
        if url.path == "/double/requests":
            with state.cond:
                state.requests.clear()
            return self._text(200, "ok")
        if url.path == "/double/catalog":
            state.clear()
            return self._text(200, "ok")
        self._text(404, "404 page not found")

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        self._body()
        if url.path == "/double/reset-index":
            self._state().reset_index(int(query.get("to", ["1"])[0]))
            return self._text(200, "ok")
        self._text(404, "404 page not found")

    # ---- the health endpoint ----

    def health_service(self, name, query):
        state = self._state()
        with state.cond:
            state.requests.append({
                "path": self.path.split("?")[0],
                "query": {k: v for k, v in query.items()},
                "token": self._token(query),
                "time": time.time(),
            })
            del state.requests[:-1000]
            faults = set(state.faults)

        if self.refuse(faults):
            return

        acl = self._policy(query)
        if acl is None:
            return
        policy, known = acl

        passing = go_bool(query.get("passing", ["false"])[-1]) if "passing" in query else False
        if passing is None:
            return self._text(400, "Invalid value for passing")
        dc = query.get("dc", [""])[-1]
        if dc and dc != state.datacenter:
            return self._text(500, "No path to datacenter")
        tags = query.get("tag", [])
        index = 0
        if "index" in query:
            try:
                index = int(query["index"][-1])
                if index < 0:
                    raise ValueError
            except ValueError:
                return self._text(400, "Invalid index")
        wait = DEFAULT_WAIT
        if "wait" in query:
            wait = go_duration(query["wait"][-1])
            if wait is None:
                return self._text(400, "Invalid wait time")
        wait = min(wait, MAX_WAIT)

        if index > 0 and "never_block" not in faults:
            deadline = time.monotonic() + wait + random.uniform(0, wait / JITTER_FRACTION)
            with state.cond:
                while state.service_idx(name) <= index and not self.server.stopping:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    state.cond.wait(left)

        with state.cond:
            faults = set(state.faults)
            reply_index = state.service_idx(name)
            entries = state.entries(name, tags, passing)
        # a fault switched on while the query blocked applies to its answer
        if self.refuse(faults):
            return
        if "error500" in faults:
            return self._text(500, "rpc error making call: No cluster leader")
        readable = [e for e in entries if self._may_read(policy, e["Service"]["Service"])]
        filtered = known and len(readable) < len(entries)
        entries = self.transform(readable, faults)

        body = json.dumps(entries, separators=(",", ":")).encode()
        if "malformed" in faults:
            body = body[:max(1, len(body) // 2)]
        headers = [("Content-Type", "application/json"), ("Vary", "Accept-Encoding"),
                   ("X-Consul-Effective-Consistency", "leader")]
        if "no_index" not in faults:
            headers.append(("X-Consul-Index", "0" if "index_zero" in faults else str(reply_index)))
        headers += [("X-Consul-Knownleader", "true"), ("X-Consul-Lastcontact", "0")]
        if filtered:
            headers.append(("X-Consul-Results-Filtered-By-Acls", "true"))
        chunks = (lambda: random.randint(1, 7)) if "tiny_chunks" in faults else None
        self._send(200, body, headers, chunks)

    def refuse(self, faults):
        """hang: never answer (until the fault is cleared); close: close the
        connection without an answer. True when the query got either."""
        state = self._state()
        if "hang" in faults:
            with state.cond:
                state.cond.wait_for(lambda: "hang" not in state.faults or self.server.stopping)
        elif "close" not in faults:
            return False
        self.close_connection = True
        return True

    @staticmethod
    def transform(entries, faults):
        for e in entries:
            svc = e["Service"]
            if "empty_service_address" in faults:
                svc["Address"] = ""
            if "ipv6" in faults and svc["Address"].startswith("127."):
                svc["Address"] = "::1"
            if "missing_checks" in faults:
                del e["Checks"]
        if "duplicates" in faults:
            entries = [e for e in entries for _ in (0, 1)]
        return entries


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # a client that gave up (a timeout, a worker that exited) is normal
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


def parse_tokens(specs):
    tokens = {}
    for spec in specs:
        secret, _, policy = spec.partition("=")
        tokens[secret] = policy if policy in ("write", "read", "deny") \
            else set(p for p in policy.split(",") if p)
    return tokens


def main():
    ap = argparse.ArgumentParser(description="A Consul API double for tests.")
    ap.add_argument("--listen", default="127.0.0.1:8500", help="HOST:PORT")
    ap.add_argument("--datacenter", default="dc1")
    ap.add_argument("--token", action="append", default=[],
                    help="SECRET=write|read|SERVICE,... (enables ACLs)")
    ap.add_argument("--anonymous", default="deny", choices=("deny", "read"))
    ap.add_argument("--pidfile")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()

    host, _, port = args.listen.rpartition(":")
    server = Server((host.strip("[]"), int(port)), Handler)
    server.state = State(args.datacenter)
    server.tokens = parse_tokens(args.token)
    server.anonymous = args.anonymous
    server.verbose = args.verbose
    server.stopping = False

    def stop(*_):
        server.stopping = True
        with server.state.cond:
            server.state.cond.notify_all()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.pidfile:
        with open(args.pidfile, "w") as f:
            f.write("%d\n" % os.getpid())
    server.serve_forever(poll_interval=0.2)
    server.server_close()


if __name__ == "__main__":
    main()
