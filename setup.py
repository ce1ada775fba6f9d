"""Packaging hook: a wheel carries the Compose file, containers/ and the shipped
experiments inside the package (kit/_resources/), so that an installed kit works from any
directory. In a checkout (and an editable install) the kit reads them where they are."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

RESOURCES = ("docker-compose.yml", "containers", "experiments")


class BuildWithResources(build_py):
    def run(self):
        super().run()
        if self.editable_mode:
            return
        target = Path(self.build_lib) / "kit" / "_resources"
        shutil.rmtree(target, ignore_errors=True)   # nothing stale from an earlier build
        for name in RESOURCES:
            source = Path(name)
            if source.is_dir():
                self.copy_tree(str(source), str(target / name))
            else:
                self.mkpath(str(target))
                self.copy_file(str(source), str(target / name))


setup(cmdclass={"build_py": BuildWithResources})
