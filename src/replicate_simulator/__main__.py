import sys

from replicate_simulator.server import main

sys.exit(main())
