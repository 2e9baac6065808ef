"""The process entry point: `python -m hn_broker`, and the broker.pex entry point."""


def main() -> None:
    from gevent import monkey

    monkey.patch_all()  # first: before anything imports socket, ssl or threading
    from hn_broker._service import BrokerService
    from hn_runtime import run
    from hn_yellow_client import discovery_from_env

    run(BrokerService(), discovery=discovery_from_env())


if __name__ == "__main__":
    main()
