"""Packaging for NodeConductor; requirements.txt pins what CI and the images install."""

from pathlib import Path

from setuptools import find_packages, setup

here = Path(__file__).parent
requirements = [
    line.strip()
    for line in (here / "requirements.txt").read_text().splitlines()
    if line.strip() and not line.startswith(("#", "-"))
]

setup(
    name="nodeconductor",
    version="0.1.0",
    description="Self-service broker for shared API-driven clouds (OpenStack).",
    long_description=(here / "README.rst").read_text(),
    long_description_content_type="text/x-rst",
    packages=find_packages(include=["nodeconductor", "nodeconductor.*", "settings"]),
    include_package_data=True,
    python_requires=">=3.11",
    install_requires=requirements,
    entry_points={"console_scripts": ["nodeconductor-cloudsim = nodeconductor.cloudsim.__main__:main"]},
)
