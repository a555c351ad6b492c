"""``python3 -m kubectl_seccomp.agent``: the node agent's command line."""

import sys

from kubectl_seccomp.agent.main import main

sys.exit(main())
