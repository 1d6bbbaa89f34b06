# SPDX-License-Identifier: Apache-2.0
"""A test server run inside a slot (python3 stdlib only): echoes requests
as JSON, streams big and chunked bodies, speaks WebSocket (echo).
Usage: python3 ports_server.py PORT NAME"""
import base64
import hashlib
import json
import struct
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

NAME = sys.argv[2]
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length", "0"))
        return self.rfile.read(n) if n else b""

    def echo(self):
        data = self.body()
        doc = {"name": NAME, "method": self.command, "path": self.path,
               "headers": [[k, v] for k, v in self.headers.items()],
               "body_len": len(data),
               "body_sha": hashlib.sha256(data).hexdigest(),
               "body": data[:1000].decode("latin-1")}
        out = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.send_header("X-Server-Name", NAME)
        self.send_header("Keep-Alive", "timeout=5")
        self.send_header("Connection", "keep-alive, X-Hop")
        self.send_header("X-Hop", "must-not-pass")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    def do_GET(self):
        u = urlsplit(self.path)
        q = parse_qs(u.query)
        if u.path == "/big":
            n = int(q["n"][0])
            self.send_response(200)
            self.send_header("Content-Length", str(n))
            self.end_headers()
            block = b"x" * 65536
            while n > 0:
                self.wfile.write(block[:min(n, len(block))])
                n -= len(block)
        elif u.path == "/chunked":
            parts = [("part%d-" % i).encode() * 100 for i in range(int(q["n"][0]))]
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for p in parts:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(p), p))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        elif u.path == "/ws" and self.headers.get("Upgrade", "").lower() == "websocket":
            self.websocket()
        else:
            self.echo()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = echo

    def websocket(self):
        key = self.headers["Sec-WebSocket-Key"]
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        while True:
            h = self.rfile.read(2)
            if len(h) < 2:
                return
            op, ln = h[0] & 0x0F, h[1] & 0x7F
            if ln == 126:
                ln = struct.unpack(">H", self.rfile.read(2))[0]
            elif ln == 127:
                ln = struct.unpack(">Q", self.rfile.read(8))[0]
            mask = self.rfile.read(4) if h[1] & 0x80 else b"\0\0\0\0"
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(ln)))
            if op == 8:  # close: answer it and end
                self.wfile.write(b"\x88\x00")
                return
            reply = (NAME + ":").encode() + data
            hdr = bytes([0x80 | op])
            if len(reply) < 126:
                hdr += bytes([len(reply)])
            else:
                hdr += bytes([126]) + struct.pack(">H", len(reply))
            self.wfile.write(hdr + reply)
            self.wfile.flush()
        self.close_connection = True


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
