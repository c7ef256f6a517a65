import sys

from evgen.cli import main

sys.exit(main())
