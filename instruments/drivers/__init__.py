"""loopscope's instrument drivers: one pymeasure Instrument subclass per model, speaking its
manual's commands and nothing more (units in, units out, as the instrument has them).

The roles that wrap them in SI live in instruments/roles/; instruments/registry.py names both.
"""
