"""TLS under a client connection: `ssl.SSLObject` over memory BIOs, on the broker's own sockets.

The connection keeps its plain non-blocking socket, driven from gevent's hub like every other
(no greenlet per connection): bytes read from it go into the incoming BIO, OpenSSL turns them
into plaintext for the framing above (the 4-byte prefix, or WebSocket), and what it writes
(handshake messages, records) comes out of the outgoing BIO and is written like any other bytes,
so the slow-reader cut, the rate pause and the held answers work as on plain TCP. The kernel's
round-trip figure (TCP_INFO) still comes from the same socket.

Why memory BIOs rather than an `ssl.SSLSocket` in non-blocking mode: with an SSLSocket, OpenSSL
reads and writes the socket itself, so a read can want to write (and a write to read), and
plaintext it has decrypted but not returned is invisible to the hub's readiness watcher (it
must be drained by `pending()` or the connection stalls); all of that would be handled again
beside the connection's own write queue. With BIOs the connection owns all of its I/O and a TLS
layer is these few methods. Measured apart, the two cost the same per echo; bench/broker.py's
tls and wss rows give the broker's figures (docs/security.md, "The edge: TLS and WebSocket").

TLS 1.2 at least; the certificate chain and key come from HN_BROKER_TLS_CERT and
HN_BROKER_TLS_KEY (PEM files). A connection whose TLS handshake does not end within the
broker's handshake timeout is closed (a slowloris on the handshake); a client that does not
trust the certificate aborts the handshake itself, and the connection closes as
"tls handshake failed". No client certificates: players authenticate with their session.
"""

from __future__ import annotations

import ssl
from typing import Any

from hn_broker._connection import ClientConnection

__all__ = ["TlsConnection", "TlsLayer", "server_context"]

_WANT_READ = ssl.SSLWantReadError
_CLOSED = ssl.SSLZeroReturnError


def server_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """A server-side TLS context with this certificate chain and key (PEM files)."""
    # gevent's SSLContext when gevent patched ssl (the standard library's own, used beside it,
    # recurses in its property setters); its wrap_bio makes the standard SSLObject all the same.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    # Each connection is one player's session: TLS session resumption tickets would only let
    # a reconnecting client skip a handshake it makes seconds apart, at the cost of key state.
    context.options |= ssl.OP_NO_TICKET
    return context


class TlsLayer(ClientConnection):
    """A connection whose bytes go through TLS; the framing above it is the next class in the
    MRO (ClientConnection's 4-byte prefix, or the WebSocket layer)."""

    def __init__(self, *args: Any, tls: ssl.SSLContext, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Set after the base class started watching the socket: no callback runs before the
        # hub regains control, which is after this returns.
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = tls.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self._tls_open = False
        self._expect_handshake()

    def _on_readable(self) -> None:
        data = self._receive()
        if not data:
            return
        self._incoming.write(data)
        tls = self._tls
        if not self._tls_open:
            try:
                tls.do_handshake()
            except _WANT_READ:
                self._flush()
                return
            except (ssl.SSLError, OSError):
                self._flush()  # the alert that says why, best effort
                self.close("tls handshake failed")
                return
            self._tls_open = True
            self._flush()
            self._handshake_done()
        chunks = []
        ending = False
        incoming = self._incoming
        try:
            while True:
                chunk = tls.read(65536)
                if not chunk:
                    ending = True
                    break
                chunks.append(chunk)
                if not incoming.pending and not tls.pending():
                    break  # all read: no need for the exception that says so (it costs ~1 µs)
        except _WANT_READ:
            pass
        except _CLOSED:
            ending = True  # the client's close_notify
        except (ssl.SSLError, OSError):
            self.close("tls error")
            return
        if self._outgoing.pending:
            self._flush()  # what OpenSSL answered by itself (a key update)
        if chunks:
            self.feed(chunks[0] if len(chunks) == 1 else b"".join(chunks))
        if ending and not self.closed:
            self.close("closed by client")

    def send(self, data: bytes) -> None:
        if not self._kept(data):
            self._transmit(data)

    def _transmit(self, data: bytes) -> None:
        if not self._tls_open:
            return  # nothing but the handshake before the handshake (a refusal to a late one)
        self._tls.write(data)
        self._write(self._outgoing.read())

    def _flush(self) -> None:
        out = self._outgoing.read()
        if out:
            self._write(out)

    def close(self, reason: str) -> None:
        if self.closed:
            return
        if self._held:
            self._release()
        if self._tls_open and not self.closed:
            self._tls_open = False
            try:
                self._tls.unwrap()  # close_notify: the client can tell an end from a cut
            except (ssl.SSLError, OSError):
                pass
            self._flush()
        super().close(reason)


class TlsConnection(TlsLayer):
    """A game client's packets, 4-byte framed, over TLS (the "tls" scheme)."""
