"""The process entry point: `python -m hn_sso`, and the sso.pex entry point."""


def main() -> None:
    from gevent import monkey

    monkey.patch_all()  # first: before anything imports socket, ssl or threading
    from hn_runtime import run
    from hn_sso._service import SsoService
    from hn_yellow_client import discovery_from_env

    run(SsoService(), discovery=discovery_from_env())


if __name__ == "__main__":
    main()
