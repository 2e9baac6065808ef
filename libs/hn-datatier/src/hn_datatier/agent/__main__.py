"""`python -m hn_datatier.agent`: patch the standard library for gevent first, then run."""

from gevent import monkey

monkey.patch_all()

import sys  # noqa: E402

from hn_datatier.agent import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
