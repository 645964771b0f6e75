import sys

from kedro_mlops.render.cli import module_main

sys.exit(module_main())
