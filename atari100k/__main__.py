import sys

from atari100k.cli import main

sys.exit(main())
