"""The release binary talks HTTPS the way it will in AWS: the SDK's client with rustls on
`ring` and the system's root certificates (src/main.rs). Nothing here reaches AWS, so a
TLS-terminating proxy on 127.0.0.1, with a certificate from a throw-away CA that the function
trusts through SSL_CERT_FILE, forwards to kendra-local."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from pathlib import Path

import pytest

from harness import INDEX_ID


def make_certificate(workdir: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for localhost/127.0.0.1 signed by it."""
    ca_key, ca_crt = workdir / "ca.key", workdir / "ca.crt"
    key, csr, crt = workdir / "server.key", workdir / "server.csr", workdir / "server.crt"
    ext = workdir / "ext.cnf"
    ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    run = lambda *args: subprocess.run(["openssl", *args], check=True, capture_output=True)  # noqa: E731
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=kendra-waiter test CA",
        "-keyout", str(ca_key), "-out", str(ca_crt))
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(csr))
    run("x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key), "-CAcreateserial",
        "-days", "1", "-extfile", str(ext), "-out", str(crt))
    return ca_crt, crt, key


class TlsProxy:
    """Accepts TLS on 127.0.0.1 and pipes the plaintext to a backend; counts handshakes."""

    def __init__(self, crt: Path, key: Path, backend: tuple[str, int]) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(str(crt), str(key))
        self.backend = backend
        self.handshakes = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        try:
            conn = self.context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()
            return
        self.handshakes += 1
        backend = socket.create_connection(self.backend)

        def pump(src, dst) -> None:
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    try:
                        s.close()
                    except OSError:
                        pass

        threading.Thread(target=pump, args=(backend, conn), daemon=True).start()
        pump(conn, backend)

    def close(self) -> None:
        self.closed = True
        self.listener.close()


@pytest.fixture
def tls(tmp_path):
    return make_certificate(tmp_path)


def test_the_release_binary_checks_documents_over_https(e2e, tls):
    ca, crt, key = tls
    kendra = e2e.kendra(indexing_checks=0)
    kendra.put_documents(["doc-1", "doc-2"])
    proxy = TlsProxy(crt, key, (kendra.host, int(kendra.endpoint.rsplit(":", 1)[1])))
    try:
        runtime = e2e.runtime()
        e2e.function(
            runtime,
            env={
                "AWS_ENDPOINT_URL_KENDRA": f"https://localhost:{proxy.port}",
                "SSL_CERT_FILE": str(ca),
            },
        )
        result = runtime.invoke({"indexId": INDEX_ID, "documents": ["doc-1", "doc-2"]})
        assert result.ok, result
        assert result.payload["status"] == "SUCCEEDED"
        assert result.payload["succeeded"] == 2
        assert proxy.handshakes >= 1
        assert len(kendra.status_requests()) == 1
    finally:
        proxy.close()


def test_an_untrusted_certificate_is_refused_not_ignored(e2e, tls):
    _, crt, key = tls
    kendra = e2e.kendra(indexing_checks=0)
    proxy = TlsProxy(crt, key, (kendra.host, int(kendra.endpoint.rsplit(":", 1)[1])))
    try:
        runtime = e2e.runtime()
        # No SSL_CERT_FILE: the system roots do not include the throw-away CA.
        e2e.function(runtime, env={"AWS_ENDPOINT_URL_KENDRA": f"https://localhost:{proxy.port}"})
        result = runtime.invoke({"indexId": INDEX_ID, "documents": ["doc-1"]})
        assert not result.ok
        assert result.error_type == "KendraUnavailable", result
        assert kendra.status_requests() == [], "no request may pass an unverified connection"
    finally:
        proxy.close()
