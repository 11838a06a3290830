"""The `nubis` command: run the server, deploy/invoke/list/remove functions, read logs and usage.

The CLI is just another client (DESIGN.md): it talks to the server over HTTP only — boto3 for the
AWS APIs, urllib for nubis's own `/_nubis/*` endpoints. This module is the command line itself (the
parser and `main`); every command is a `cmd_*(args) -> exit code` function in a module of its own job:
cli_server, cli_functions (deploy, ls, rm, publish, alias, url, layer), cli_invoke, cli_logs, cli_usage
and cli_api, with cli_args, cli_client, cli_code and cli_errors as the helpers they share.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from nubis.cli_api import cmd_api
from nubis.cli_args import DEFAULT_ENDPOINT, DEFAULT_REGION, env_pair, since_arg, normalize_endpoint
from nubis.cli_errors import format_error, one_line
from nubis.cli_functions import (DEFAULT_HANDLER, DEFAULT_MEMORY, DEFAULT_ROLE, DEFAULT_RUNTIME, DEFAULT_TIMEOUT,
                                 cmd_alias, cmd_deploy, cmd_layer, cmd_ls, cmd_publish, cmd_rm, cmd_url)
from nubis.cli_invoke import cmd_invoke
from nubis.cli_logs import cmd_logs
from nubis.cli_server import cmd_server
from nubis.cli_usage import cmd_usage


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keep the examples' line breaks."""


class _Version(argparse.Action):
    """`--version`: the installed package's version, looked up only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        import nubis
        print(f"nubis {nubis.__version__}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """The whole command line. Global options are accepted before or after the command name."""
    S = argparse.SUPPRESS  # so a sub-command's unset option does not hide the global one
    conn = argparse.ArgumentParser(add_help=False)
    g = conn.add_argument_group("server connection")
    g.add_argument("--endpoint", metavar="URL", default=S,
                   help=f"nubis server URL (env NUBIS_ENDPOINT; default {DEFAULT_ENDPOINT})")
    g.add_argument("--region", default=S,
                   help=f"region to sign requests for (env AWS_REGION / AWS_DEFAULT_REGION; default {DEFAULT_REGION})")
    js = argparse.ArgumentParser(add_help=False)
    js.add_argument("--json", action="store_true", default=S,
                    help="print one machine-readable JSON document to stdout instead of text")

    parser = argparse.ArgumentParser(
        prog="nubis", parents=[conn, js], formatter_class=_Formatter,
        description="nubis runs AWS Lambda functions on your own machine. Run `nubis server`, then use\n"
                    "these commands (or boto3 / the AWS CLI with --endpoint-url) against it.",
        epilog="examples:\n  nubis server &\n  nubis deploy ./hello --name hello\n"
               "  nubis invoke hello --payload '{\"name\": \"Ada\"}'\n  nubis logs hello --follow\n"
               "\nrun `nubis COMMAND --help` for the options of each command.")
    parser.add_argument("--version", action=_Version, help="print nubis's version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, func: Callable[[argparse.Namespace], int], summary: str, example: str,
                parents: Sequence[argparse.ArgumentParser] = (conn, js)) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=list(parents), help=summary, description=summary,
                           epilog="example:\n  " + example, formatter_class=_Formatter)
        p.set_defaults(func=func)
        return p

    p = command("server", cmd_server, "Run the nubis server in the foreground (Ctrl-C stops it).",
                "nubis server --port 8750 --data-dir ~/.nubis", parents=())
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    p.add_argument("--port", type=int, default=8750, help="port to listen on (default %(default)s)")
    p.add_argument("--data-dir", metavar="DIR", default=os.environ.get("NUBIS_DATA_DIR", "~/.nubis"),
                   help="where functions, logs, usage and pricing.toml live (env NUBIS_DATA_DIR; default %(default)s)")
    p.add_argument("--concurrency-limit", type=int, default=1000, metavar="N",
                   help="account-wide concurrent executions, like Lambda's regional quota (default %(default)s)")
    p.add_argument("--keep-alive", type=float, default=600, metavar="SECONDS",
                   help="how long an idle execution environment is kept warm (default %(default)g)")
    p.add_argument("--async-retry-scale", type=float, default=1.0, metavar="FACTOR",
                   help="multiply retry waits by this, e.g. 0.01 in tests: Lambda's async retries (1 and 2 "
                        "minutes) and SNS delivery retries (default %(default)g)")
    p.add_argument("--credentials", metavar="FILE", action="append",
                   help="an AWS shared-credentials file (e.g. ~/.aws/credentials) whose keys get their SigV4 "
                        "signatures verified; repeatable (env NUBIS_CREDENTIALS; <data dir>/credentials is always read)")
    p.add_argument("--verify-signatures", choices=("off", "known", "strict"),
                   help="known: verify the keys of the credentials files, accept any other key (default); "
                        "strict: refuse other keys too; off: never verify (env NUBIS_VERIFY_SIGNATURES)")

    p = command("deploy", cmd_deploy, "Create a function, or update its code (and the settings you pass).",
                "nubis deploy ./hello --name hello --memory 256 --env STAGE=dev LOG_LEVEL=debug")
    p.add_argument("path", metavar="PATH", help="folder to zip, a .zip file, or a single source file")
    p.add_argument("--name", required=True, help="function name")
    p.add_argument("--runtime", help=f"runtime (default on create: {DEFAULT_RUNTIME})")
    p.add_argument("--handler", help=f"module.function to call (default on create: {DEFAULT_HANDLER})")
    p.add_argument("--memory", type=int, metavar="MB", help=f"memory in MB, 128-10240 (default on create: {DEFAULT_MEMORY})")
    p.add_argument("--timeout", type=int, metavar="SECONDS", help=f"timeout, 1-900 (default on create: {DEFAULT_TIMEOUT})")
    p.add_argument("--env", type=env_pair, nargs="+", action="extend", metavar="KEY=VALUE",
                   help="environment variables; replaces the whole set on update")
    p.add_argument("--layers", nargs="*", metavar="ARN",
                   help="layer version ARNs (`nubis layer`), merged in order under /opt; replaces the list on "
                        "update (`--layers` alone removes them)")
    p.add_argument("--role", metavar="ARN",
                   help=f"execution role (default on create: {DEFAULT_ROLE}; recorded, not enforced by nubis)")
    p.add_argument("--architecture", choices=("x86_64", "arm64"), help="architecture to bill as (default x86_64)")

    p = command("invoke", cmd_invoke, "Invoke a function and print its response.",
                "nubis invoke hello --payload '{\"name\": \"Ada\"}' --log")
    p.add_argument("name", metavar="NAME", help="function name or ARN")
    p.add_argument("--payload", metavar="JSON|@FILE|-", help="event as JSON text, @file, or - for stdin (default {})")
    p.add_argument("--async", dest="async_", action="store_true", help="queue the event (InvocationType Event) and return")
    p.add_argument("--qualifier", metavar="Q", help="version or alias to invoke")
    p.add_argument("--log", action="store_true", help="print the end of the invocation's log to stderr")

    p = command("ls", cmd_ls, "List functions, with what triggers them: buckets, queues, topics, APIs.", "nubis ls --json")

    p = command("api", cmd_api, "List API Gateway APIs (HTTP, WebSocket, REST) with their URLs, stages and routes.",
                "nubis api ls")
    p.add_argument("action", nargs="?", default="ls", choices=("ls",), help="ls: list every API (the default)")

    p = command("logs", cmd_logs, "Print a function's logs (CloudWatch Logs group /aws/lambda/NAME).",
                "nubis logs hello --since 10m --follow")
    p.add_argument("name", metavar="NAME", help="function name")
    p.add_argument("--since", type=since_arg, metavar="WHEN",
                   help="only events after this: 30s, 10m, 1h, 7d, 2w ago, or an ISO time (UTC if no zone); default all")
    p.add_argument("-f", "--follow", action="store_true",
                   help="keep printing new events until Ctrl-C (with --json: one JSON event per line)")
    p.add_argument("--filter", metavar="PATTERN",
                   help="only events matching this CloudWatch Logs filter pattern: ERROR, '?ERROR ?WARN', "
                        "'{ $.level = \"ERROR\" }', '[ip, user, ..., status = 5*]', '%%regex%%'")

    p = command("rm", cmd_rm, "Delete a function.", "nubis rm hello --yes", parents=(conn,))
    p.add_argument("name", metavar="NAME", help="function name or ARN")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")

    p = command("publish", cmd_publish, "Publish a version: an immutable snapshot of the function's code and settings.",
                "nubis publish hello --description 'release 1'")
    p.add_argument("name", metavar="NAME", help="function name")
    p.add_argument("--description", help="version description")

    p = command("alias", cmd_alias, "List aliases, show one, create/update one (with weighted routing), or delete it.",
                "nubis alias hello live 2 --weight 3=0.1")
    p.add_argument("name", metavar="NAME", help="function name")
    p.add_argument("alias", metavar="ALIAS", nargs="?", help="alias name (omit to list)")
    p.add_argument("version", metavar="VERSION", nargs="?", help="version the alias points to (create or update)")
    p.add_argument("--weight", nargs="+", action="extend", metavar="VERSION=WEIGHT",
                   help="send this share (0-1) of the alias's traffic to another version")
    p.add_argument("--rm", action="store_true", help="delete the alias")

    p = command("url", cmd_url, "Print a function's URL, creating it (and its public permission) if needed.",
                "nubis url hello --auth NONE")
    p.add_argument("name", metavar="NAME", help="function name")
    p.add_argument("--qualifier", metavar="ALIAS", help="give the alias its own URL")
    p.add_argument("--auth", choices=("NONE", "AWS_IAM"),
                   help="auth type (default on create: NONE); changes an existing URL's")
    p.add_argument("--cors-origin", nargs="+", action="extend", metavar="ORIGIN",
                   help="allowed CORS origins (replaces an existing URL's CORS settings)")

    p = command("layer", cmd_layer, "List layers, list a layer's versions, or publish a new version from PATH.",
                "nubis layer deps ./deps-layer --runtime python3.12")
    p.add_argument("name", metavar="NAME", nargs="?", help="layer name (omit to list layers)")
    p.add_argument("path", metavar="PATH", nargs="?", help="folder or .zip to publish as a new version")
    p.add_argument("--runtime", nargs="+", action="extend", metavar="RUNTIME", help="compatible runtimes")
    p.add_argument("--description", help="version description")

    p = command("usage", cmd_usage, "Show requests, GB-seconds and what they would cost on AWS Lambda.",
                "nubis usage --since 7d")
    p.add_argument("--function", metavar="F", help="only this function")
    p.add_argument("--since", type=since_arg, metavar="WHEN",
                   help="only invocations after this: 7d, 24h, ... or an ISO time; default all")
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse and fill the global options from the environment."""
    args = build_parser().parse_args(argv)
    args.endpoint = normalize_endpoint(getattr(args, "endpoint", None) or os.environ.get("NUBIS_ENDPOINT")
                                       or DEFAULT_ENDPOINT)
    args.region = (getattr(args, "region", None) or os.environ.get("AWS_REGION")
                   or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION)
    args.json = getattr(args, "json", False)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run one command; errors become one line on stderr and an exit code."""
    args = parse_args(argv)
    if not getattr(args, "func", None):
        build_parser().print_help(sys.stderr)
        return 2
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `nubis logs fn | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:
        result = format_error(e, args.endpoint)
        if result is None:
            if os.environ.get("NUBIS_DEBUG"):
                raise
            result = (one_line(f"nubis: unexpected error: {type(e).__name__}: {e} (NUBIS_DEBUG=1 shows a traceback)"),
                      1)
        print(result[0], file=sys.stderr)
        return result[1]


if __name__ == "__main__":
    sys.exit(main())
