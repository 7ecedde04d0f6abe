"""pip install ./python: builds zerocp's native module against libzcp and installs the package.

Offline, into a venv that sees Debian's numpy (docs/python.md):

    /usr/bin/python3 -m venv --system-site-packages .venv
    .venv/bin/pip install --no-build-isolation --no-index ./python

libzcp comes from a zerocp build tree (ZCP_BUILD_DIR, default ../build: `make build` first)
or from an installed prefix (ZCP_PREFIX, e.g. /usr/local after `make install`). The module
links the static libzcp.a, so the installed package needs no libzcp.so at run time.
"""

import os
from pathlib import Path

from pybind11.setup_helpers import Pybind11Extension
from setuptools import setup

here = Path(__file__).resolve().parent
prefix = os.environ.get("ZCP_PREFIX")
if prefix:
    include_dir = Path(prefix) / "include"
    archive = Path(prefix) / "lib" / "libzcp.a"
else:
    build = Path(os.environ.get("ZCP_BUILD_DIR", here.parent / "build")).resolve()
    include_dir = here.parent / "include"
    archive = build / "lib" / "install" / "libzcp.a"  # every client object (cmake/install.cmake)
if not archive.exists():
    raise SystemExit(f"zerocp: {archive} not found: run `make build` (or set ZCP_BUILD_DIR / "
                     "ZCP_PREFIX)")

setup(
    name="zerocp",
    version="0.1.0",
    description="zero-copy shared-memory publish/subscribe (the Python binding of libzcp)",
    packages=["zerocp"],
    package_data={"zerocp": ["py.typed", "*.pyi"]},
    ext_modules=[
        Pybind11Extension(
            "zerocp._zerocp",
            ["src/zerocp_module.cpp", "src/errors.cpp", "src/pubsub.cpp", "src/broadcast.cpp"],
            include_dirs=[str(include_dir)],
            extra_objects=[str(archive)],
            libraries=["rt"],
            cxx_std=20,
        )
    ],
    python_requires=">=3.9",
    install_requires=["numpy"],
    zip_safe=False,
)
