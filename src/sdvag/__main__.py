import sys

from sdvag.cli.main import main

sys.exit(main())
