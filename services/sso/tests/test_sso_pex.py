"""What the sso PEX carries of hn-datatier: the client, not the launcher, the agent or the fixtures."""

from hn_datatier.testing import imports_beyond_the_client


def test_the_sso_process_reaches_only_the_data_tier_client() -> None:
    assert imports_beyond_the_client("hn_sso.__main__") == []
