"""Build hook for the optional C accelerators (the log codec, the sources' row codecs).

Everything else is declared in pyproject.toml. The extensions are optional: when no C compiler
is available the build goes on and hub uses the pure-Python codecs (same bytes, slower).
"""

from setuptools import Extension, setup

# shared C helpers
SHARED = {"include_dirs": ["hub/_c"], "depends": ["hub/_c/fastcall.h", "hub/_c/rowcodec.h"]}

setup(
    ext_modules=[
        Extension(
            "hub.log._speedups",
            sources=["hub/log/_speedups.c"],
            optional=True,
            **SHARED,
            extra_compile_args=["-O3"],
        ),
        Extension(
            "connectors.source.postgres._rowcodec",
            sources=["connectors/source/postgres/_rowcodec.c"],
            optional=True,
            **SHARED,
            extra_compile_args=["-O3"],
        ),
        Extension(
            "connectors.source.mysql._binlogcodec",
            sources=["connectors/source/mysql/_binlogcodec.c"],
            optional=True,
            **SHARED,
            extra_compile_args=["-O3"],
        ),
    ]
)
