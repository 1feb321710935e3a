"""`loopscope gui`: the operator's window.

    loopscope gui                         the simulated lab, started in-process
    loopscope gui --station lab.yaml      a real station
    loopscope gui --screenshot win.png    a short sweep on the simulated lab, offscreen; saves the window
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click


@click.command()
@click.option("--station", "station_file", type=click.Path(exists=True, dir_okay=False),
              help="station file (YAML); without it the simulated lab is started in-process")
@click.option("--speed", type=float, default=50.0, show_default=True,
              help="simulated lab only: how much faster than real time its clock runs")
@click.option("--sample", default="soft_core", show_default=True,
              help="simulated lab only: the sample in the cryostat (rings, soft_core, paramagnet, ...)")
@click.option("--out-dir", type=click.Path(file_okay=False), default="runs", show_default=True,
              help="folder for the run files")
@click.option("--plan", "plan_file", type=click.Path(exists=True, dir_okay=False),
              help="load this plan into the editor")
@click.option("--screenshot", type=click.Path(dir_okay=False),
              help="run a short sweep on the simulated lab offscreen, save the window as this PNG, exit")
def gui(station_file, speed, sample, out_dir, plan_file, screenshot):
    """The operator's window: run field sweeps with live plots, a queue and a data browser."""
    if screenshot:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from loopscope.gui.screenshots import window_screenshot
        path = window_screenshot(Path(screenshot), speed=max(speed, 200.0), station_file=station_file)
        click.echo(f"saved {path}")
        return
    missing = missing_display_libraries()
    if missing:
        raise click.ClickException(missing)
    from PyQt6.QtWidgets import QApplication

    from loopscope.gui.main_window import MainWindow
    from loopscope.gui.session import StationSession

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("loopscope")
    if station_file:
        session = StationSession(station_file, description=f"station file {station_file}")
    else:
        click.echo(f"starting the simulated lab (sample {sample}, speed x{speed:g}) ...", err=True)
        session = StationSession.simulated(speed=speed, sample=sample)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    window = MainWindow(session, out_dir=out_dir)
    window.out_dir.setText(str(out_dir))
    if plan_file:
        window.load_plan_file(plan_file)
    window.show()
    try:
        code = app.exec()
    finally:
        window.poller.stop()
        session.close()
    sys.exit(code)


#: what Qt 6.5+'s xcb platform plugin needs beyond Qt's own wheels, and the Debian/Ubuntu
#: package of each (without it Qt aborts with "Could not load the Qt platform plugin xcb")
XCB_LIBRARIES = {"xcb-cursor": "libxcb-cursor0"}


def missing_display_libraries(platform: str | None = None, find=None) -> str:
    """A one-line account of the system libraries the window cannot start without, or "".

    Only Linux's X11 plugin needs them; another QT_QPA_PLATFORM (offscreen, wayland) does not."""
    import ctypes.util

    platform = sys.platform if platform is None else platform
    qpa = os.environ.get("QT_QPA_PLATFORM", "")
    if not platform.startswith("linux") or (qpa and not qpa.startswith("xcb")):
        return ""
    find = find or ctypes.util.find_library
    absent = [package for lib, package in XCB_LIBRARIES.items() if not find(lib)]
    if not absent:
        return ""
    return (f"the window needs the system package {', '.join(absent)} for Qt's X11 plugin "
            f"(Debian/Ubuntu: sudo apt-get install {' '.join(absent)}; Fedora: "
            f"sudo dnf install xcb-util-cursor); or run headless with QT_QPA_PLATFORM=offscreen")
