"""``python -m unlearnbench``."""

from unlearnbench.cli import main

raise SystemExit(main())
