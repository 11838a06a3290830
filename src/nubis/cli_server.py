"""`nubis server`: run the server in the foreground."""
from __future__ import annotations

import argparse
from pathlib import Path

from nubis.cli_errors import CliError


def cmd_server(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir).expanduser()
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        from nubis.server.app import serve
    except ImportError as e:
        raise CliError(f"the server is not available in this installation ({e})") from None
    serve(host=args.host, port=args.port, data_dir=data_dir,
          account_concurrency=args.concurrency_limit, keep_alive_s=args.keep_alive,
          async_retry_scale=args.async_retry_scale, credentials_files=args.credentials,
          verify_signatures=args.verify_signatures)
    return 0
