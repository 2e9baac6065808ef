"""The process entry point: `python -m hn_yellow`, and the yellow.pex entry point."""


def main() -> None:
    from gevent import monkey

    monkey.patch_all()  # first: before anything imports socket, ssl or threading
    from hn_runtime import run
    from hn_yellow._service import YellowService

    run(YellowService())


if __name__ == "__main__":
    main()
