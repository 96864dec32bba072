"""Starts and stops one server binary on a free 127.0.0.1 port (used by the
other-language client checks)."""
import os
import socket
import subprocess
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary, port=None):
        self.binary = binary
        self.port = port or free_port()
        self.proc = None
        self.log = tempfile.NamedTemporaryFile(prefix="natsd-client-", suffix=".log", delete=False)

    def start(self):
        self.proc = subprocess.Popen(
            [self.binary, "-a", "127.0.0.1", "-p", str(self.port)],
            stdout=self.log, stderr=self.log)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    if s.recv(5) == b"INFO ":
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.binary} did not start on {self.port}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @property
    def url(self):
        return f"nats://127.0.0.1:{self.port}"
