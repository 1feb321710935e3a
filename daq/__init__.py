"""loopscope daq package."""
