"""loopscope instruments package."""
