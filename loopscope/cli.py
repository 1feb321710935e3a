"""The `loopscope` command. Each package contributes its own click commands; this wires them.

Commands are imported lazily so that `loopscope sim` does not pay for Qt or numba.
"""
from __future__ import annotations

import importlib

import click

from loopscope import __version__

# command name -> "module:attribute" of a click.Command
COMMANDS = {
    "sim": "loopscope.sim_devices.cli:sim",
    "run": "loopscope.daq.cli:run",
    "demo": "loopscope.daq.cli:demo",
    "inspect": "loopscope.daq.cli:inspect_cmd",
    "export": "loopscope.daq.cli:export",
    "import-mpms": "loopscope.daq.mpms_import:import_mpms_cmd",
    "queue": "loopscope.daq.cli:queue",
    "fit": "loopscope.analysis.cli:fit",
    "plot": "loopscope.analysis.cli:plot",
    "reanalyze": "loopscope.analysis.reanalyze_cli:reanalyze",
    "gui": "loopscope.gui.cli:gui",
    "station": "loopscope.instruments.commissioning:station",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return [name for name in COMMANDS if self._load(name, quiet=True) is not None]

    def get_command(self, ctx, name):
        return self._load(name)

    @staticmethod
    def _load(name, quiet=False):
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
            return getattr(module, attr)
        except (ImportError, AttributeError):
            if quiet:
                return None
            raise


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="loopscope")
def main():
    """loopscope: field sweeps, a simulated magnetism lab, HDF5 records and physics fits."""
