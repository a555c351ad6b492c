"""The node agent: follows a node's SECCOMP audit records, tells which container
made each one, and prints compact JSON events; also installs profile files.

It runs in a short-lived privileged pod on each node (host PID namespace, host
network) and directly on a Linux host (tests, ``kubectl seccomp record-local``),
so it imports only the standard library and the package's other stdlib-only
modules (``audit``, ``syscalls``, ``errors``); ``bundle.py`` zips exactly these
into one file any ``python3`` >= 3.9 runs. One module per job:

* ``sources``: where records come from (audit netlink, audit.log, /dev/kmsg);
* ``attribution``: host pid -> container id (``/proc``, kernel proc connector);
* ``events``: first-sighting dedupe, counters, the JSON-lines protocol;
* ``follow``: the loop that ties the three together;
* ``profiles``: safe install/remove of profile files under a root;
* ``sync``: the sync DaemonSet's pod (``apply --sync``): install a payload's
  profiles, then label its own node through the API server;
* ``main``: the argparse entry point;
* ``bundle``: the reproducible ``agent.pyz`` the record workflow ships to nodes.
"""
