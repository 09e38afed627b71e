#!/usr/bin/env python3
"""A snapshot endpoint behind HTTP Digest (RFC 7616, MD5, qop=auth) on HTTP/1.1 keep-alive, as IP
cameras serve them, written with Python's standard library only: an HTTP server nobody here wrote
the framing of. Its nonce changes every ROTATE requests, as a camera's nonce expires. It prints
`ready`, then one line per request: `401 <reason>` or `200 nc=<count>`.

    digest_snapshot_server.py PORT USER PASSWORD IMAGE.jpg ROTATE
"""
import hashlib
import http.server
import re
import secrets
import sys

port, user, password, image_path, rotate = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
image = open(image_path, "rb").read()
realm = "camera"
state = {"nonce": secrets.token_hex(16), "served": 0}


def md5(text):
    return hashlib.md5(text.encode()).hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def refuse(self, reason):
        print("401", reason, flush=True)
        body = b"unauthorized\n"
        self.send_response(401)
        self.send_header("WWW-Authenticate", f'Digest realm="{realm}", nonce="{state["nonce"]}", algorithm=MD5, qop="auth"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        state["served"] += 1
        if state["served"] % rotate == 0:
            state["nonce"] = secrets.token_hex(16)
        header = self.headers.get("Authorization", "")
        if not header.startswith("Digest "):
            return self.refuse("no credentials")
        fields = dict(re.findall(r'(\w+)="?([^",]*)"?', header[7:]))
        if fields.get("nonce") != state["nonce"]:
            return self.refuse("stale nonce")
        ha1 = md5(f"{user}:{realm}:{password}")
        ha2 = md5(f"GET:{fields.get('uri', '')}")
        expected = md5(f"{ha1}:{fields['nonce']}:{fields.get('nc', '')}:{fields.get('cnonce', '')}:auth:{ha2}")
        if fields.get("username") != user or fields.get("response") != expected:
            return self.refuse("wrong response")
        print("200", f"nc={fields.get('nc')}", flush=True)
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(image)))
        self.end_headers()
        self.wfile.write(image)


server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
print("ready", flush=True)
server.serve_forever()
