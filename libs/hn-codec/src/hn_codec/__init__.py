"""hn-codec: Thrift message bodies to bytes and back, and what a service's IDL declares.

The part of the wire format a game client shares with the services: it needs thrift (and
gevent's original `threading.local`), never ZeroMQ or the server, so the client SDK
(`clients/python`) depends on this library and not on hn-runtime.
"""

from hn_codec._codec import DecodeError, decode, encode, spec_of
from hn_codec._idl import Method, ServiceIdl, load_idl

__version__ = "0.1.0"
__all__ = ["DecodeError", "Method", "ServiceIdl", "decode", "encode", "load_idl", "spec_of"]
