"""``loopscope sim``: run the simulated lab in the foreground until Ctrl-C."""
from __future__ import annotations

import ipaddress
import signal
import socket
import threading
import warnings

import click

from pathlib import Path

from .config import ConfigError, profile_names, profile_summary, resolve_config
from .lab import DEFAULT_BASE_PORT, SimulatedLab


@click.command("sim")
@click.option("--config", "config_path", default=None, metavar="FILE|PROFILE",
              help="Simulated-lab YAML (sample, coil, magnet, cryostat, models, noise, faults), or "
                   "the name of a profile in sim_devices/profiles (--list-profiles).")
@click.option("--list-profiles", is_flag=True, help="List the simulated-lab profiles and exit.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for every noise generator.")
@click.option("--speed", type=float, default=1.0, show_default=True,
              help="Simulated seconds per wall-clock second.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--base-port", type=int, default=DEFAULT_BASE_PORT, show_default=True,
              help="First port; the nine instruments take base..base+8 (a vector magnet: base..base+10; 0 picks free ports).")
@click.option("--serial", "serial", multiple=True, metavar="NAME[,NAME]",
              help="Serve these instruments on serial pseudo-terminals (ASRL/dev/pts/N::INSTR) "
                   "instead of TCP: those with an RS-232 port in the chosen models (default lab: gaussmeter, "
                   "nanovoltmeter, lockin, coil_supply, source_meter). POSIX only.")
def sim(config_path, list_profiles, seed, speed, host, base_port, serial):
    """Start the simulated lab and serve its instruments until Ctrl-C."""
    if list_profiles:
        for name in profile_names():
            click.echo(f"{name:<32} {profile_summary(name)}")
        return
    if config_path is not None:
        resolved = resolve_config(config_path)
        if not Path(resolved).is_file():
            raise click.BadParameter(f"{config_path!r} is neither a file nor a profile (profiles: "
                                     f"{', '.join(profile_names()) or 'none'})", param_hint="--config")
        config_path = resolved
    names = [n.strip() for item in serial for n in item.split(",") if n.strip()]
    try:
        with warnings.catch_warnings(record=True):   # said below, in the lab's own words
            warnings.simplefilter("always")
            lab = SimulatedLab(config_path, seed=seed, speed=speed, host=host,
                               base_port=base_port, serial=names)
    except (ConfigError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    for name, why in lab.serial_skipped.items():
        click.echo(f"warning: {name}: served on TCP, not serial: {why}", err=True)
    if not is_loopback(host):
        click.echo(f"warning: --host {host}: the simulated lab is served to the network; anyone who "
                   f"can reach this machine can drive its instruments (there is no authentication). "
                   f"Use --host 127.0.0.1 to keep it on this machine.", err=True)
    stop = threading.Event()
    # Ctrl-C and SIGTERM only set the event, so the shutdown below always runs and exits 0
    prev_int = signal.signal(signal.SIGINT, lambda *a: stop.set())
    prev_term = signal.signal(signal.SIGTERM, lambda *a: stop.set())
    try:
        try:
            lab.start()
        except (OSError, OverflowError) as exc:
            raise click.ClickException(f"cannot bind the simulated lab's ports on {host}: {exc}") from None
        click.echo(f"loopscope simulated lab (seed {seed}, speed x{speed:g}); Ctrl-C to stop")
        for name, model, res in lab.describe():
            click.echo(f"  {name:<24} {model:<22} {res}")
        if speed != 1:
            click.echo(f"its clock runs x{speed:g}: stations for it need time_scale: {speed:g} "
                       f"(or loopscope run --time-scale {speed:g})")
        while not stop.wait(0.2):
            pass
    finally:
        signal.signal(signal.SIGINT, prev_int)
        signal.signal(signal.SIGTERM, prev_term)
        lab.stop()
        click.echo("simulated lab stopped")


def is_loopback(host: str) -> bool:
    """True when ``host`` names this machine only (127.0.0.0/8, ::1, localhost)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False  # the bind fails and says so
    return bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses)


if __name__ == "__main__":  # pragma: no cover
    sim()
