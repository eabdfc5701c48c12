import sys

from incentives_cli.cli import main

sys.exit(main())
