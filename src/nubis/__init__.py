"""nubis: AWS Lambda and its ecosystem on your own machine.

`nubis.__version__` is the installed package's version (pyproject.toml is its one source), so
`nubis --version`, the server banner and /_nubis/health agree. It is looked up on first use: reading
package metadata costs ~30 ms, which processes that import nubis for anything else should not pay."""
from __future__ import annotations


def __getattr__(name: str) -> str:
    if name != "__version__":
        raise AttributeError(f"module 'nubis' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version
    try:
        value = version("nubis")
    except PackageNotFoundError:  # a source tree that was never installed
        value = "0+unknown"
    globals()["__version__"] = value
    return value
