"""`python -m pytest_llmeval.cli`."""

import sys

from pytest_llmeval.cli.main import main

sys.exit(main())
