"""`python -m nubis` is the `nubis` command."""
from .cli import main

raise SystemExit(main())
