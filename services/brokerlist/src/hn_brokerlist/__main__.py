"""The process entry point: `python -m hn_brokerlist`, and the brokerlist.pex entry point."""


def main() -> None:
    from gevent import monkey

    monkey.patch_all()  # first: before anything imports socket, ssl or threading
    from hn_brokerlist._service import BrokerlistService
    from hn_runtime import run
    from hn_yellow_client import discovery_from_env

    run(BrokerlistService(), discovery=discovery_from_env())


if __name__ == "__main__":
    main()
