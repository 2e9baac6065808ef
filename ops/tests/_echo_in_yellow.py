"""The runtime's Echo service registered with the yellows in HN_YELLOW: `python -m _echo_in_yellow`."""


def main() -> None:
    from gevent import monkey

    monkey.patch_all()
    from hn_runtime import run
    from hn_runtime.testing.echo import EchoService
    from hn_yellow_client import discovery_from_env

    run(EchoService(), discovery=discovery_from_env())


if __name__ == "__main__":
    main()
