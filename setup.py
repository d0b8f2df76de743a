"""Build hook for the optional C accelerator of the log codec.

Everything else is declared in pyproject.toml. The extension is optional: when no C compiler
is available the build goes on and hub uses the pure-Python codec (same bytes, slower).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "hub.log._speedups",
            sources=["hub/log/_speedups.c"],
            optional=True,
            extra_compile_args=["-O3"],
        )
    ]
)
