"""`python -m bot.sandbox`: the same as `psoas-bot sandbox`."""

import sys

from bot.sandbox.serve import main

sys.exit(main())
