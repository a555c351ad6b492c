"""The Kubernetes layer: the only package that imports ``kubernetes``.

One concern per module, kopf-style: ``config`` (which cluster, like kubectl),
``api`` (the client boundary tests fake), ``errors`` (our error family),
``workloads`` (Deployments: patch, annotations, rollouts), ``nodes`` (node pods).
"""
