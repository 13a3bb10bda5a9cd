"""A scriptable HTTP server on loopback for the driver tests.

FakeHTTP(handler) serves every request on 127.0.0.1:<free port> in a
thread; handler(req) gets a Request (method, path, headers, body, time) and
returns (status, headers dict, body bytes). With tls=(certfile, keyfile)
it serves HTTPS. Every request is recorded in `requests`, in order.
"""

import http.server
import json
import socketserver
import threading
import time


class Request:
    def __init__(self, method, path, headers, body, peer=None):
        self.peer = peer  # (address, port) of the client's connection
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.time = time.monotonic()

    def json(self):
        return json.loads(self.body)


class FakeHTTP:
    def __init__(self, handler, port=0, tls=None):
        self.handler = handler
        self.requests = []
        self.lock = threading.Lock()
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                req = Request(self.command, self.path,
                              {k.lower(): v for k, v in self.headers.items()},
                              body)
                with outer.lock:
                    outer.requests.append(req)
                status, headers, out = outer.handler(req)
                if isinstance(out, str):
                    out = out.encode()
                if isinstance(out, (dict, list)):
                    out = json.dumps(out).encode()
                    headers = dict(headers)
                    headers.setdefault("Content-Type", "application/json")
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = _any

        class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = S(("127.0.0.1", port), H)
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        if tls is not None:
            import ssl
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.server.socket = ctx.wrap_socket(self.server.socket,
                                                 server_side=True)
            self.url = "https://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    def seen(self, method=None, path=None):
        with self.lock:
            return [r for r in self.requests
                    if (method is None or r.method == method)
                    and (path is None or r.path.split("?")[0] == path)]

    def close(self):
        self.server.shutdown()
        self.server.server_close()
