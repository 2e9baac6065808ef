from hn_runtime.testing import running
from hn_runtime.testing.echo import EchoService


def test_echo():
    with running(EchoService()) as svc:
        echo = svc.proxy()
        assert echo.echo(payload=b"hi") == b"hi"
        h = echo.health()
        assert h.service_name == "echo"
