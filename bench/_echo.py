"""The echo workers the benchmarks put behind a hop: a blocking pyzmq ROUTER loop each, no
framework in the way, so the figures are the hop's (or the client's), not a Python service's.

    python _echo.py serve-raw <ready file>   sends every message back as it came (rpc.py's raw pyzmq)
    python _echo.py serve-hn <ready file>    answers hn-runtime requests: `echo.echo` (broker*.py)

The hn-runtime worker turns the envelope's kind into REPLY and the `echo_args` struct into an
`echo_result` by rewriting their first bytes; other requests get an empty result. Both write
`{"rep": endpoint}` to the ready file.
"""

from __future__ import annotations

from typing import Any

from _harness import run_role, write_ready

__all__ = ["ARGS_HEAD", "REPLY_HEAD", "REQUEST_HEAD", "RESULT_HEAD", "serve_hn", "serve_raw"]

#: Envelope field 1 (kind, i32) as fastbinary writes it first: REQUEST (1) and REPLY (2).
REQUEST_HEAD = b"\x08\x00\x01\x00\x00\x00\x01"
REPLY_HEAD = b"\x08\x00\x01\x00\x00\x00\x02"
#: echo_args field 1 (payload, binary) and echo_result field 0 (success, binary).
ARGS_HEAD = b"\x0b\x00\x01"
RESULT_HEAD = b"\x0b\x00\x00"
#: a struct with no fields (its STOP byte)
_EMPTY_STRUCT = b"\x00"


def _router(ready: str) -> Any:
    """A ROUTER on a free loopback port with unbounded queues (the load generator bounds what is
    in flight), its endpoint written to `ready`."""
    import zmq

    sock = zmq.Context.instance().socket(zmq.ROUTER)
    sock.setsockopt(zmq.SNDHWM, 0)
    sock.setsockopt(zmq.RCVHWM, 0)
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    write_ready(ready, {"rep": f"tcp://127.0.0.1:{port}"})
    return sock


def serve_raw(ready: str) -> None:
    """Every message back to its sender, untouched."""
    sock = _router(ready)
    while True:
        sock.send_multipart(sock.recv_multipart())


def serve_hn(ready: str) -> None:
    """Answers `echo.echo` requests with their payload, any other request (the broker's fence
    probes `health`, as every hn-runtime service answers it) with an empty result; what is not a
    request gets no answer."""
    sock = _router(ready)
    recv, send = sock.recv_multipart, sock.send_multipart
    while True:
        frames = recv()
        head, body = frames[-2], frames[-1]
        if head[:7] != REQUEST_HEAD:
            continue
        frames[-2] = REPLY_HEAD + head[7:]
        frames[-1] = RESULT_HEAD + body[3:] if body[:3] == ARGS_HEAD else _EMPTY_STRUCT
        send(frames)


if __name__ == "__main__":
    run_role({"serve-raw": serve_raw, "serve-hn": serve_hn})
