"""The lab's instrument slots and the models that fill them (config `models`), and profiles:
simulated labs loaded by name (`loopscope sim --config NAME`)."""
import pytest
from click.testing import CliRunner

from loopscope.sim_devices import config as C
from loopscope.sim_devices.cli import sim
from loopscope.sim_devices.lab import MODEL_CLASSES, SimulatedLab


def test_every_slot_lists_the_same_models_in_config_and_lab():
    assert set(C.MODEL_CHOICES) == set(C.ALL_INSTRUMENT_NAMES) == set(MODEL_CLASSES)
    assert set(C.ALL_INSTRUMENT_NAMES) - set(C.INSTRUMENT_NAMES) == set(C.VECTOR_AXIS_NAMES)
    for name, choices in C.MODEL_CHOICES.items():
        assert set(choices) == set(MODEL_CLASSES[name]), name


def test_a_bad_models_entry_names_its_key_and_value():
    with pytest.raises(C.ConfigError, match=r"models\.gaussmeter: 'lakeshore999' is not one of lakeshore425"):
        C.load_config({"models": {"gaussmeter": "lakeshore999"}})
    with pytest.raises(C.ConfigError, match=r"unknown configuration key 'models\.toaster'"):
        C.load_config({"models": {"toaster": "x"}})


def test_the_default_model_fills_each_slot():
    lab = SimulatedLab({"vector_magnet": {"enabled": True}}, seed=0)
    for name, choices in C.MODEL_CHOICES.items():
        assert type(lab.instruments[name]) is MODEL_CLASSES[name][choices[0]]


@pytest.fixture
def profiles(tmp_path, monkeypatch):
    (tmp_path / "cold_paramagnet.yaml").write_text(
        "# A paramagnet at 2 K behind the usual instruments\n"
        "sample: {kind: paramagnet}\ncryostat: {base_temperature_K: 2.0}\n"
        "models: {gaussmeter: lakeshore425}\n")
    monkeypatch.setattr(C, "PROFILES_DIR", tmp_path)
    return tmp_path


def test_a_profile_loads_by_name(profiles):
    cfg = C.load_config("cold_paramagnet")
    assert cfg["sample"]["kind"] == "paramagnet"
    assert cfg["cryostat"]["base_temperature_K"] == 2.0
    assert C.profile_names() == ["cold_paramagnet"]
    out = CliRunner().invoke(sim, ["--list-profiles"])
    assert out.exit_code == 0
    assert "cold_paramagnet" in out.output and "A paramagnet at 2 K" in out.output


def test_an_unknown_profile_is_refused_with_the_list(profiles):
    out = CliRunner().invoke(sim, ["--config", "dilution_frige"])
    assert out.exit_code == 2
    assert "'dilution_frige' is neither a file nor a profile (profiles: cold_paramagnet)" in out.output


def test_the_shipped_profiles_load_and_start():
    """Every profile in the package is a valid lab that starts and answers *IDN? in each slot."""
    import pyvisa
    for name in C.profile_names():
        with SimulatedLab(name, seed=0, speed=50) as lab:
            rm = pyvisa.ResourceManager("@py")
            try:
                for slot, resource in lab.resources.items():
                    ends = lab.instruments[slot].reply_termination   # CR for the 2182A, as the real one
                    inst = rm.open_resource(resource, read_termination=ends, write_termination=ends, timeout=5000)
                    try:
                        # *IDN?, or the model's own identity query (the Ametek 7270's ID)
                        asked = lab.instruments[slot].identity_query
                        assert inst.query(asked).strip(), (name, slot)
                    finally:
                        inst.close()
            finally:
                rm.close()
