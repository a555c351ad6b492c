"""Build hook for the one compiled module, the optional C census (everything else is in pyproject.toml).

``optional=True``: without a C compiler the install still succeeds and ``generate`` uses the
pure-Python census (kubectl_seccomp/census.py says which one runs). The module uses only CPython's
stable ABI (3.9), so it is built as ``_census.abi3.so``, the same form the Krew archives carry.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "kubectl_seccomp._census",
            ["kubectl_seccomp/_census.c"],
            optional=True,
            py_limited_api=True,
            define_macros=[("Py_LIMITED_API", "0x03090000")],
        )
    ]
)
