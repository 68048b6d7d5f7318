# Copyright (c) s4m-mm authors. All rights reserved.
"""Metadata is in setup.cfg. This file adds what setup.cfg cannot say: the
``_s4m_mm_scheme.pth`` file at the top of site-packages, which teaches
mmengine the ``s4m_mm::`` config scheme (see ``_s4m_mm_scheme.py``)."""
import os.path as osp
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

PTH = '_s4m_mm_scheme.pth'


class BuildPyWithSchemePth(build_py):
    """``build_py`` that also puts the ``.pth`` file beside the modules."""

    def run(self):
        super().run()
        self.copy_file(PTH, osp.join(self.build_lib, PTH))

    def get_outputs(self, include_bytecode=1):
        return super().get_outputs(include_bytecode) + [
            osp.join(self.build_lib, PTH)
        ]

    def get_output_mapping(self):
        mapping = super().get_output_mapping()
        mapping[osp.join(self.build_lib, PTH)] = PTH
        return mapping


class EditableWheelWithSchemePth(editable_wheel):
    """``pip install -e .`` (PEP 660): setuptools' editable wheel maps the
    packages and modules to the source tree but leaves out other files of
    ``build_py``; the ``.pth`` goes into the wheel's root here."""

    def _run_build_commands(self, dist_name, unpacked_wheel, build_lib,
                            tmp_dir):
        result = super()._run_build_commands(dist_name, unpacked_wheel,
                                             build_lib, tmp_dir)
        shutil.copy(PTH, osp.join(unpacked_wheel, PTH))
        return result


setup(cmdclass={
    'build_py': BuildPyWithSchemePth,
    'editable_wheel': EditableWheelWithSchemePth
})
