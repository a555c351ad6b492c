"""Build hook for the one compiled module, the optional C census (everything else is in pyproject.toml).

``optional=True``: without a C compiler the install still succeeds and ``generate`` uses the
pure-Python census (kubectl_seccomp/census.py says which one runs).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("kubectl_seccomp._census", ["kubectl_seccomp/_census.c"], optional=True)])
