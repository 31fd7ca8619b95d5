"""Sphinx configuration of the NodeConductor documentation (`make -C docs html`)."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / "_ext"))

project = "NodeConductor"
author = "NodeConductor developers"
copyright = "NodeConductor developers"
extensions = ["ncdocs"]
exclude_patterns = ["_build", "states/*.dot"]
html_theme = "alabaster"
html_theme_options = {"page_width": "1200px", "sidebar_width": "230px"}
html_static_path = []
# Every internal reference must resolve; with -W a dangling one fails the build.
nitpicky = False
highlight_language = "none"
suppress_warnings = []
