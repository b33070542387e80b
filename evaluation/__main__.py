import sys

from evaluation.tasks import main

sys.exit(main())
