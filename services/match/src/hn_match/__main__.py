"""The process entry point: `python -m hn_match`, and the match.pex entry point."""


def main() -> None:
    from gevent import monkey

    monkey.patch_all()  # first: before anything imports socket, ssl or threading
    from hn_match._service import MatchService
    from hn_runtime import run
    from hn_yellow_client import discovery_from_env

    run(MatchService(), discovery=discovery_from_env())


if __name__ == "__main__":
    main()
