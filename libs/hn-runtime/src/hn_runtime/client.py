"""What `get_service` and `subscribe` return, and the settings of this process as a client.

`set_identity` names the process on its requests and `set_default_timeout` bounds calls made
through proxies given no timeout (`run` sets both from the service's configuration).
`close_all` closes every pooled connection.
"""

from hn_runtime._client import close_all
from hn_runtime._proxy import PushProxy, ServiceProxy, set_default_timeout, set_identity
from hn_runtime._subscription import Subscription

__all__ = ["PushProxy", "ServiceProxy", "Subscription", "close_all", "set_default_timeout", "set_identity"]
