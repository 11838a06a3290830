"""CloudWatch Logs (`logs`): log groups, streams and events that Lambda writes and clients read back."""
from .provider import LogsProvider

__all__ = ["LogsProvider"]
