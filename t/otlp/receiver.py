#!/usr/bin/env python3
"""An OTLP/HTTP trace receiver double for the tests.

It accepts ExportTraceServiceRequest bodies in protobuf
(application/x-protobuf) on POST PATH, decodes them with a decoder of its
own written from the OTLP specification (the field names, numbers and
types of opentelemetry-proto), checks them against it, and keeps the spans.
A second port controls it and answers questions about what it received:

  GET /spans?where=KEY=VALUE&count=N&wait=SECONDS
        waits (up to SECONDS, default 60) until at least N spans match every
        where= (an attribute, a resource attribute or a span field), then
        answers "invalid=I spans=K" and one line per matching span
  GET /stats?posts=N&answered=CODE:N&hung=N&wait=SECONDS
        waits until N export requests arrived, N were answered CODE, N are
        hanging; answers counters
  GET /errors       every violation of the specification seen
  GET /headers      the headers of the last export request
  GET /mode?set=M   how export requests are answered from now on:
        ok (200), partial (200 with partial_success rejecting all spans),
        hang (read the request, never answer), 503, 429, 400, 404, or
        down (the OTLP port is closed) and up (open again, answering ok)

With --check-with-protobuf, every body is also parsed by python3-protobuf
with t/otlp/otlp_trace.proto compiled by protoc, and the two readings must
agree: the double's decoder is checked against an independent one.
"""

import argparse
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Invalid(Exception):
    """The body breaks the protobuf encoding or the OTLP specification."""


# --- the protobuf wire format ------------------------------------------------

VARINT, FIXED64, LENGTH_DELIMITED, FIXED32 = 0, 1, 2, 5


def read_varint(buf, pos):
    value, shift = 0, 0
    while True:
        if pos >= len(buf):
            raise Invalid("truncated varint")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            if value >> 64:
                raise Invalid("varint above 64 bits")
            return value, pos
        shift += 7
        if shift >= 70:
            raise Invalid("varint longer than 10 bytes")


def wire_fields(buf):
    """Yields (number, wire type, value) for each field of one message."""
    pos = 0
    while pos < len(buf):
        key, pos = read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 0 or number > 0x1FFFFFFF:
            raise Invalid("field number %d" % number)
        if wire == VARINT:
            value, pos = read_varint(buf, pos)
        elif wire == FIXED64:
            if pos + 8 > len(buf):
                raise Invalid("truncated fixed64")
            value = struct.unpack_from("<Q", buf, pos)[0]
            pos += 8
        elif wire == FIXED32:
            if pos + 4 > len(buf):
                raise Invalid("truncated fixed32")
            value = struct.unpack_from("<I", buf, pos)[0]
            pos += 4
        elif wire == LENGTH_DELIMITED:
            size, pos = read_varint(buf, pos)
            if pos + size > len(buf):
                raise Invalid("length %d past the end" % size)
            value = bytes(buf[pos:pos + size])
            pos += size
        else:
            raise Invalid("wire type %d" % wire)
        yield number, wire, value


# --- the OTLP trace messages -------------------------------------------------
# number: (name, type, repeated); a type is a scalar name or a message name.

MESSAGES = {
    "ExportTraceServiceRequest": {1: ("resource_spans", "ResourceSpans", True)},
    "ResourceSpans": {
        1: ("resource", "Resource", False),
        2: ("scope_spans", "ScopeSpans", True),
        3: ("schema_url", "string", False),
    },
    "Resource": {
        1: ("attributes", "KeyValue", True),
        2: ("dropped_attributes_count", "uint32", False),
        3: ("entity_refs", "EntityRef", True),
    },
    "EntityRef": {
        1: ("schema_url", "string", False),
        2: ("type", "string", False),
        3: ("id_keys", "string", True),
        4: ("description_keys", "string", True),
    },
    "ScopeSpans": {
        1: ("scope", "InstrumentationScope", False),
        2: ("spans", "Span", True),
        3: ("schema_url", "string", False),
    },
    "InstrumentationScope": {
        1: ("name", "string", False),
        2: ("version", "string", False),
        3: ("attributes", "KeyValue", True),
        4: ("dropped_attributes_count", "uint32", False),
    },
    "Span": {
        1: ("trace_id", "bytes", False),
        2: ("span_id", "bytes", False),
        3: ("trace_state", "string", False),
        4: ("parent_span_id", "bytes", False),
        5: ("name", "string", False),
        6: ("kind", "enum", False),
        7: ("start_time_unix_nano", "fixed64", False),
        8: ("end_time_unix_nano", "fixed64", False),
        9: ("attributes", "KeyValue", True),
        10: ("dropped_attributes_count", "uint32", False),
        11: ("events", "Event", True),
        12: ("dropped_events_count", "uint32", False),
        13: ("links", "Link", True),
        14: ("dropped_links_count", "uint32", False),
        15: ("status", "Status", False),
        16: ("flags", "fixed32", False),
    },
    "Event": {
        1: ("time_unix_nano", "fixed64", False),
        2: ("name", "string", False),
        3: ("attributes", "KeyValue", True),
        4: ("dropped_attributes_count", "uint32", False),
    },
    "Link": {
        1: ("trace_id", "bytes", False),
        2: ("span_id", "bytes", False),
        3: ("trace_state", "string", False),
        4: ("attributes", "KeyValue", True),
        5: ("dropped_attributes_count", "uint32", False),
        6: ("flags", "fixed32", False),
    },
    "Status": {2: ("message", "string", False), 3: ("code", "enum", False)},
    "KeyValue": {1: ("key", "string", False), 2: ("value", "AnyValue", False)},
    "AnyValue": {
        1: ("string_value", "string", False),
        2: ("bool_value", "bool", False),
        3: ("int_value", "int64", False),
        4: ("double_value", "double", False),
        5: ("array_value", "ArrayValue", False),
        6: ("kvlist_value", "KeyValueList", False),
        7: ("bytes_value", "bytes", False),
    },
    "ArrayValue": {1: ("values", "AnyValue", True)},
    "KeyValueList": {1: ("values", "KeyValue", True)},
    "ExportTraceServiceResponse": {1: ("partial_success", "ExportTracePartialSuccess", False)},
    "ExportTracePartialSuccess": {
        1: ("rejected_spans", "int64", False),
        2: ("error_message", "string", False),
    },
}

WIRE_OF = {
    "string": LENGTH_DELIMITED, "bytes": LENGTH_DELIMITED,
    "uint32": VARINT, "int64": VARINT, "bool": VARINT, "enum": VARINT,
    "fixed64": FIXED64, "double": FIXED64, "fixed32": FIXED32,
}

SPAN_KINDS = ["SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER",
              "SPAN_KIND_CLIENT", "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER"]
STATUS_CODES = ["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"]


def decode(type_name, buf, path=""):
    """A message as a dict of field name to value; lists for repeated fields."""
    schema = MESSAGES[type_name]
    out = {}
    for number, wire, value in wire_fields(buf):
        if number not in schema:
            raise Invalid("%s%s has no field %d" % (path, type_name, number))
        name, ftype, repeated = schema[number]
        where = "%s%s.%s" % (path, type_name, name)
        expected = WIRE_OF.get(ftype, LENGTH_DELIMITED)
        if wire != expected:
            raise Invalid("%s: wire type %d, not %d" % (where, wire, expected))
        if ftype == "string":
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError:
                raise Invalid("%s is not UTF-8" % where)
        elif ftype == "int64" and value >= 1 << 63:
            value -= 1 << 64
        elif ftype == "uint32" and value >= 1 << 32:
            raise Invalid("%s above 32 bits" % where)
        elif ftype == "bool":
            if value > 1:
                raise Invalid("%s is not a bool" % where)
            value = bool(value)
        elif ftype == "double":
            value = struct.unpack("<d", struct.pack("<Q", value))[0]
        elif ftype in MESSAGES:
            value = decode(ftype, value, where + ".")
        if repeated:
            out.setdefault(name, []).append(value)
        elif name in out:
            raise Invalid("%s appears twice" % where)
        else:
            out[name] = value
    if type_name == "AnyValue" and len(out) > 1:
        raise Invalid("%sAnyValue sets %s" % (path, ", ".join(sorted(out))))
    return out


def any_value(value):
    """The Python value of an AnyValue."""
    if not value:
        return None
    (name, v), = value.items()
    if name == "array_value":
        return [any_value(x) for x in v.get("values", [])]
    if name == "kvlist_value":
        return attributes(v.get("values", []), "kvlist")
    return v


def attributes(kvs, where):
    out = {}
    for kv in kvs:
        key = kv.get("key", "")
        if not key:
            raise Invalid("%s: an attribute without a key" % where)
        if key in out:
            raise Invalid("%s: attribute %s twice" % (where, key))
        out[key] = any_value(kv.get("value", {}))
    return out


def check_id(span, field, size, required=True):
    value = span.get(field, b"")
    if not value and not required:
        return ""
    if len(value) != size:
        raise Invalid("%s of %d bytes, not %d" % (field, len(value), size))
    if value == bytes(size):
        raise Invalid("%s is all zeros" % field)
    return value.hex()


def spans_of(request):
    """Flat span records, checked against the specification."""
    records = []
    for rs in request.get("resource_spans", []):
        resource = attributes(rs.get("resource", {}).get("attributes", []), "resource")
        if not isinstance(resource.get("service.name"), str) or not resource["service.name"]:
            raise Invalid("the resource has no service.name")
        for ss in rs.get("scope_spans", []):
            scope = ss.get("scope", {})
            for span in ss.get("spans", []):
                start = span.get("start_time_unix_nano", 0)
                end = span.get("end_time_unix_nano", 0)
                if start == 0 or end < start:
                    raise Invalid("times %d to %d" % (start, end))
                kind = span.get("kind", 0)
                code = span.get("status", {}).get("code", 0)
                flags = span.get("flags", 0)
                if kind >= len(SPAN_KINDS) or code >= len(STATUS_CODES):
                    raise Invalid("kind %d, status %d" % (kind, code))
                if flags >> 10:
                    raise Invalid("reserved flags 0x%x" % flags)
                if not span.get("name"):
                    raise Invalid("a span without a name")
                records.append({
                    "trace_id": check_id(span, "trace_id", 16),
                    "span_id": check_id(span, "span_id", 8),
                    "parent_span_id": check_id(span, "parent_span_id", 8, required=False),
                    "name": span["name"],
                    "kind": SPAN_KINDS[kind],
                    "status": STATUS_CODES[code],
                    "status_message": span.get("status", {}).get("message", ""),
                    "flags": flags,
                    "trace_state": span.get("trace_state", ""),
                    "start": start,
                    "end": end,
                    "attributes": attributes(span.get("attributes", []), "span"),
                    "resource": resource,
                    "scope": "%s/%s" % (scope.get("name", ""), scope.get("version", "")),
                })
    return records


# --- the independent reading -------------------------------------------------

class OfficialReader:
    """python3-protobuf with the test schema compiled by protoc."""

    def __init__(self):
        here = os.path.dirname(os.path.abspath(__file__))
        self.dir = tempfile.mkdtemp(prefix="otlp-pb2-")
        subprocess.run(["protoc", "--proto_path=" + here, "--python_out=" + self.dir,
                        "otlp_trace.proto"], check=True)
        sys.path.insert(0, self.dir)
        import otlp_trace_pb2  # noqa: E402 (generated above)
        self.pb2 = otlp_trace_pb2

    def records(self, body):
        request = self.pb2.ExportTraceServiceRequest()
        request.ParseFromString(body)
        out = []
        for rs in request.resource_spans:
            resource = {kv.key: self.value(kv.value) for kv in rs.resource.attributes}
            for ss in rs.scope_spans:
                for s in ss.spans:
                    out.append({
                        "trace_id": s.trace_id.hex(), "span_id": s.span_id.hex(),
                        "parent_span_id": s.parent_span_id.hex(), "name": s.name,
                        "kind": SPAN_KINDS[s.kind], "status": STATUS_CODES[s.status.code],
                        "status_message": s.status.message, "flags": s.flags,
                        "trace_state": s.trace_state, "start": s.start_time_unix_nano,
                        "end": s.end_time_unix_nano,
                        "attributes": {kv.key: self.value(kv.value) for kv in s.attributes},
                        "resource": resource,
                        "scope": "%s/%s" % (ss.scope.name, ss.scope.version),
                    })
        return out

    def value(self, v):
        which = v.WhichOneof("value")
        if which is None:
            return None
        if which == "array_value":
            return [self.value(x) for x in v.array_value.values]
        if which == "kvlist_value":
            return {kv.key: self.value(kv.value) for kv in v.kvlist_value.values}
        return getattr(v, which)


# --- the double --------------------------------------------------------------

class State:
    def __init__(self, official):
        self.cond = threading.Condition()
        self.spans = []
        self.errors = []
        self.mode = "ok"
        self.posts = 0
        self.hung = 0
        self.answered = {}
        self.headers = ""
        self.official = official

    def record(self, body, headers):
        """Checks one export request; returns its spans or raises Invalid."""
        ctype = headers.get("Content-Type", "")
        if ctype.split(";")[0].strip().lower() != "application/x-protobuf":
            raise Invalid("Content-Type %r" % ctype)
        records = spans_of(decode("ExportTraceServiceRequest", body))
        if self.official is not None:
            theirs = self.official.records(body)
            if theirs != records:
                raise Invalid("python3-protobuf reads it otherwise: %r, not %r" % (theirs, records))
        return records


def line(span):
    """One span as the tests match it."""
    def text(v):
        if isinstance(v, str):
            return '"%s"' % v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return str(v).lower() if isinstance(v, bool) else str(v)

    parts = ["trace_id=" + span["trace_id"], "span_id=" + span["span_id"],
             "parent_span_id=" + (span["parent_span_id"] or "-"), "name=" + text(span["name"]),
             "kind=" + span["kind"], "status=" + span["status"], "flags=0x%x" % span["flags"],
             "trace_state=" + text(span["trace_state"]), "scope=" + span["scope"],
             "duration_ns=%d" % (span["end"] - span["start"])]
    parts += ["resource.%s=%s" % (k, text(v)) for k, v in sorted(span["resource"].items())]
    parts += ["%s=%s" % (k, text(v)) for k, v in sorted(span["attributes"].items())]
    return " ".join(parts)


def matches(span, where):
    for key, value in where:
        if key.startswith("resource."):
            have = span["resource"].get(key[len("resource."):])
        elif key in span and key not in ("attributes", "resource"):
            have = span[key]
        else:
            have = span["attributes"].get(key)
        if have is None or str(have) != value:
            return False
    return True


def make_otlp_handler(state, path):
    class Otlp(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            length = self.headers.get("Content-Length")
            if length is None or self.headers.get("Transfer-Encoding"):
                self.fail(411, "a body without Content-Length")
                return
            body = self.rfile.read(int(length))
            if urllib.parse.urlsplit(self.path).path != path:
                self.fail(404, "POST to %s, not %s" % (self.path, path))
                return
            if not self.headers.get("Host"):
                self.fail(400, "no Host header")
                return
            with state.cond:
                state.posts += 1
                state.headers = str(self.headers)
                mode = state.mode
                state.cond.notify_all()
            try:
                records = state.record(body, self.headers)
            except Invalid as e:
                self.fail(400, str(e))
                return
            if mode == "hang":
                self.hang()
                return
            if mode in ("ok", "partial"):
                with state.cond:
                    state.spans.extend(records)
                    state.cond.notify_all()
                answer = b""
                if mode == "partial":
                    # a line break the gateway must not write into its log
                    msg = b"rejected by the test\r\nforged line"
                    inner = b"\x08" + encode_varint(len(records)) + b"\x12" + encode_varint(len(msg)) + msg
                    answer = b"\x0a" + encode_varint(len(inner)) + inner
                self.answer(200, answer)
            else:
                self.answer(int(mode), b"")

        def do_GET(self):
            self.fail(405, "GET on the OTLP port")

        def fail(self, status, why):
            with state.cond:
                state.errors.append(why)
                state.cond.notify_all()
            self.answer(status, why.encode(), "text/plain")

        def answer(self, status, body, ctype="application/x-protobuf"):
            with state.cond:
                state.answered[status] = state.answered.get(status, 0) + 1
                state.cond.notify_all()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def hang(self):
            # never answer; let go once the mode changes or the client leaves
            with state.cond:
                state.hung += 1
                state.cond.notify_all()
                state.cond.wait_for(lambda: state.mode != "hang", timeout=300)
            self.close_connection = True

    return Otlp


def encode_varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


class OtlpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, handler):
        self.connections = set()
        super().__init__(address, handler)

    def process_request(self, request, client_address):
        self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        self.connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self):
        for conn in list(self.connections):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Receiver:
    def __init__(self, port, path, state):
        self.port, self.path, self.state = port, path, state
        self.server = None
        self.lock = threading.Lock()

    def up(self):
        with self.lock:
            if self.server is None:
                self.server = OtlpServer(("127.0.0.1", self.port), make_otlp_handler(self.state, self.path))
                threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self):
        with self.lock:
            if self.server is not None:
                self.server.shutdown()
                self.server.server_close()
                self.server.drop_connections()
                self.server = None


def make_control_handler(state, receiver):
    class Control(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            q = urllib.parse.parse_qs(url.query)
            wait = float(q.get("wait", ["60"])[0])
            if url.path == "/spans":
                where = [tuple(w.split("=", 1)) for w in q.get("where", [])]
                count = int(q.get("count", ["1"])[0])
                with state.cond:
                    state.cond.wait_for(
                        lambda: sum(matches(s, where) for s in state.spans) >= count, timeout=wait)
                    found = [s for s in state.spans if matches(s, where)]
                    text = "invalid=%d spans=%d\n" % (len(state.errors), len(found))
                    text += "".join(line(s) + "\n" for s in found)
            elif url.path == "/stats":
                posts = int(q.get("posts", ["0"])[0])
                hung = int(q.get("hung", ["0"])[0])
                code, answered = (int(x) for x in q.get("answered", ["0:0"])[0].split(":"))
                with state.cond:
                    state.cond.wait_for(lambda: state.posts >= posts and state.hung >= hung
                                        and state.answered.get(code, 0) >= answered, timeout=wait)
                    text = "posts=%d hung=%d spans=%d invalid=%d mode=%s answered=%s\n" % (
                        state.posts, state.hung, len(state.spans), len(state.errors), state.mode,
                        ",".join("%d:%d" % kv for kv in sorted(state.answered.items())))
            elif url.path == "/headers":
                with state.cond:
                    text = state.headers
            elif url.path == "/errors":
                with state.cond:
                    text = "".join(e + "\n" for e in state.errors)
            elif url.path == "/mode":
                mode = q.get("set", [""])[0]
                if mode not in ("ok", "partial", "hang", "503", "429", "400", "404", "down", "up"):
                    self.answer(400, "unknown mode %r\n" % mode)
                    return
                if mode == "down":
                    receiver.down()
                elif mode == "up":
                    receiver.up()
                with state.cond:
                    state.mode = "ok" if mode in ("up", "down") else mode
                    state.cond.notify_all()
                text = "mode=%s\n" % mode
            else:
                self.answer(404, "no such thing\n")
                return
            self.answer(200, text)

        def answer(self, status, text):
            body = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Control


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True, help="the OTLP/HTTP port")
    parser.add_argument("--control-port", type=int, required=True)
    parser.add_argument("--path", default="/v1/traces")
    parser.add_argument("--check-with-protobuf", action="store_true")
    parser.add_argument("--down", action="store_true", help="start with the OTLP port closed")
    args = parser.parse_args()

    state = State(OfficialReader() if args.check_with_protobuf else None)
    receiver = Receiver(args.port, args.path, state)
    if not args.down:
        receiver.up()
    control = ThreadingHTTPServer(("127.0.0.1", args.control_port), make_control_handler(state, receiver))
    control.daemon_threads = True
    print("ready", flush=True)
    control.serve_forever()


if __name__ == "__main__":
    main()
