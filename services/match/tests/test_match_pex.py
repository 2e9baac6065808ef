"""What the match PEX carries of hn-datatier: the client, not the launcher, the agent or the fixtures."""

from hn_datatier.testing import imports_beyond_the_client


def test_the_match_process_reaches_only_the_data_tier_client() -> None:
    assert imports_beyond_the_client("hn_match.__main__") == []
