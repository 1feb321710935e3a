"""Simulated labs named for the lab they stand for: ``loopscope sim --config NAME`` (and
``SimulatedLab("NAME")``) loads ``NAME.yaml`` from this folder. Each file is an ordinary
simulated-lab configuration (docs/simulated_lab.md), usually a ``models`` section that puts
other instruments in the lab's slots and the sample and cryostat they measure."""
