"""loopscope gui package."""
