"""The Kubernetes layer: the only package that imports ``kubernetes``.

One concern per module, kopf-style. Pure builders (no API call):
``workloads`` (pod-template owners: where each kind keeps its template, the
patches, the state annotations, rollout progress read from a status) and
``node_pods`` (node pod manifests and their scripts). Modules that call the
API: ``api`` (the client boundary, an ABC tests fake), ``owners`` (read, patch
and roll owners), ``nodes`` (run node pods), ``config`` (which cluster, like
kubectl); ``errors`` is our error family.
"""
