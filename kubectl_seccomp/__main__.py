"""``python -m kubectl_seccomp``: the same as the ``kubectl-seccomp`` executable."""

from kubectl_seccomp.cli import main

main()
