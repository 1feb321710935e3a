"""loopscope analysis package."""
