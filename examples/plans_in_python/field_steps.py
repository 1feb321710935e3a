"""Plans written in Python, run by the same engine as the YAML plans.

    loopscope run examples/plans_in_python/field_steps.py:steps_up_and_back --station S.yaml
    loopscope run examples/plans_in_python/field_steps.py:thouless_series

Each function yields one step(...) per point; the engine checks every step against the station
before anything moves, and owns the safe state, retries, pause/abort and the file.
"""
from loopscope.daq.plans_as_code import plan, step


@plan(title="Coil field up in steps and back, two readings at each", source="coil_supply",
      detectors=["gaussmeter", "squid_controller"], labels=["repeat"],
      settle={"wait_for_holding": True, "delay_s": 0.2})
def steps_up_and_back(top_T=0.02, steps=5):
    fields = [top_T * k / steps for k in range(steps + 1)]
    for b in fields + fields[-2::-1]:              # up, then back down to 0
        for repeat in (1, 2):
            yield step(field=b, labels={"repeat": repeat})


@plan(title="Persistent-current field sweep at several temperatures", source="coil_supply",
      detectors=["squid_controller", "temperature_controller"], labels=["temperature_index"],
      settle={"wait_for_holding": True, "delay_s": 0.1})
def thouless_series(temperatures_K=(0.05, 0.1, 0.2), top_T=0.03, points=31):
    for k, temperature in enumerate(temperatures_K):
        for i in range(points):
            yield step(field=top_T * i / (points - 1), temperature_K=temperature,
                       labels={"temperature_index": k})
