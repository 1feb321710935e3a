"""loopscope sim_devices package."""
