"""Every test process is a gevent process, as every service process is: patch first."""

from gevent import monkey

monkey.patch_all()
