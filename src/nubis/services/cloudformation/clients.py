"""botocore clients against nubis's own endpoint: CloudFormation manages resources through each
service's public API, as a client would, with session credentials of the stack's account."""
from __future__ import annotations

import threading

import botocore.session
from botocore.client import BaseClient
from botocore.config import Config

from ...server.credentials import function_credentials

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=300,
                 s3={"addressing_style": "path"}, parameter_validation=True)


class Clients:
    """Cached clients per (service, account, region); botocore clients are thread-safe once made."""

    def __init__(self, endpoint: str, server_secret: bytes) -> None:
        self.endpoint = endpoint
        self.secret = server_secret
        self._session = botocore.session.get_session()
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str, str], BaseClient] = {}

    def get(self, service: str, account: str, region: str) -> BaseClient:
        key = (service, account, region)
        client = self._cache.get(key)
        if client is None:
            with self._lock:
                client = self._cache.get(key)
                if client is None:
                    access_key, secret, token = function_credentials(self.secret, account)
                    client = self._session.create_client(
                        service, region_name=region, endpoint_url=self.endpoint, aws_access_key_id=access_key,
                        aws_secret_access_key=secret, aws_session_token=token, config=_CONFIG)
                    self._cache[key] = client
        return client
