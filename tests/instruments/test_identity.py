"""Identity checks against what real instruments answer to *IDN?, and what they must refuse.

Each accepted string names where it comes from: a recorded transcript, a manual's *IDN? page,
a vendor's own software, or (marked so) the form of a neighbouring model. The refused ones
are other models whose limits or command sets differ. Nothing here needs an instrument:
``identity_matches`` only applies the pattern; one test goes through ``check_identity`` to see
the refusal message.
"""
from __future__ import annotations

import pytest
from pymeasure.test import expected_protocol

from loopscope.instruments.drivers.ami430 import AMI430
from loopscope.instruments.drivers.cryomagnetics4g import Cryomagnetics4G
from loopscope.instruments.drivers.keithley2182 import Keithley2182
from loopscope.instruments.drivers.keithley2400 import Keithley2400
from loopscope.instruments.drivers.kepco_bop import KepcoBOP
from loopscope.instruments.drivers.keysight34465a import Keysight34465A
from loopscope.instruments.drivers.lakeshore336 import LakeShore336
from loopscope.instruments.drivers.lakeshore372 import LakeShore372
from loopscope.instruments.drivers.lakeshore425 import LakeShore425
from loopscope.instruments.drivers.mercury_ips import MercuryIPS
from loopscope.instruments.drivers.mercury_itc import MercuryITC
from loopscope.instruments.drivers.sr830 import SR830
from loopscope.instruments.drivers.sr860 import SR860
from loopscope.instruments.drivers.sr865a import SR865A
from loopscope.instruments.drivers.ametek7270 import Ametek7270
from loopscope.instruments.roles import InstrumentError

ACCEPTED = {
    KepcoBOP: [
        # a real BOP 36-12 with a BIT 4886 card: pymeasure's recorded transcript,
        # tests/instruments/kepco/test_kepcobop.py
        "KEPCO,BIT 4886 36-12  08-04-2023,H249977,4.04-1.82",
        # the simulated lab's, in the same form (sim_devices/instruments/kepco_bop.py)
        "KEPCO,BIT 4886 36-12  01-15-2024,E174512,4.04-1.82",
        # BIT 4882 / older cards put the BOP model in the model field, as other BOPs do there
        # ("KEPCO,BOP 50-20,E1234,2.6": ISISComputingGroup/EPICS-DeviceEmulator,
        # lewis_emulators/kepco/device.py); with the M and D suffixes of the 36-12 variants
        "KEPCO,BOP 36-12M,E1234,2.6",
        "KEPCO,BOP 36-12D,E1234,2.6",
        "KEPCO,BOP 36-12 DM,E174512,4.04-1.80",       # loopscope's earlier simulated reply
        # by analogy with the BIT 4886 form (no transcript seen)
        "KEPCO,BIT 4882 36-12  08-04-2023,H249977,4.04-1.82",
    ],
    AMI430: [
        # the simulated lab's; AMI's Magnet-DAQ parses serial (3rd field) and firmware (last)
        # from this form (American-Magnetics-Inc/magnet-daq, Magnet-DAQ/socket.cpp)
        "AMERICAN MAGNETICS INC.,MODEL 430,430-2417,2.65",
        # older firmware, without the serial (a device id quoted in public socket scripts)
        "AMERICAN MAGNETICS INC.,MODEL 430,1.62",
    ],
    Cryomagnetics4G: [
        # QCoDeS's recorded sim reply (microsoft/Qcodes, src/qcodes/instrument/sims/cryo4g.yaml)
        "Cryomagnetics,4G,2239,1.02,208",
        "Cryomagnetics,4G,2417,1.02,208",                      # the simulated lab's
    ],
    MercuryIPS: [
        # QCoDeS's recorded sim reply (qcodes/instrument/sims/MercuryiPS.yaml); the manual's
        # form IDN:OXFORD INSTRUMENTS:MERCURY dd:ss:ff (Operator's Manual 10.3.2)
        "IDN:OXFORD INSTRUMENTS:SIMULATED MERCURY iPS:000:000",
        "IDN:OXFORD INSTRUMENTS:MERCURY iPS:IPS-0317:2.5.09.000",   # the simulated lab's
    ],
    SR830: [
        # pymeasure, tests/instruments/srs/test_sr830.py
        "Stanford_Research_Systems,SR830,s/n12345,ver1.07",
        "Stanford_Research_Systems,SR830,s/n48151,ver1.07",    # the simulated lab's
    ],
    SR860: [
        # SRS's own package, thinkSRS/srsinst.sr860: getting_started.ipynb (a real SR860)
        "Stanford_Research_Systems,SR860,002819,v1.51",
        # ... and its README (an SR865A: same command set, srsinst's _IdString 'SR86[05][A]?,')
        "Stanford_Research_Systems,SR865A,002725,v1.34",
        "Stanford_Research_Systems,SR865,003301,v1.51",
        "Stanford_Research_Systems,SR860,003285,v1.51",        # the simulated lab's
    ],
    SR865A: [
        "Stanford_Research_Systems,SR865A,002725,v1.34",       # thinkSRS/srsinst.sr860 README
    ],
    Ametek7270: [
        "7270",                                                # ID's reply (7270 manual 6.7.12)
    ],
    Keithley2182: [
        # a real 2182A's reply, quoted in public instrument scripts
        "KEITHLEY INSTRUMENTS INC.,MODEL 2182A,1193143,C02 /A02",
        # the Model 2182/2182A User's Manual (2182A-900-01), *IDN? format, spaces and all
        "KEITHLEY INSTRUMENTS INC., MODEL 2182, 1234567, A06 /A02",
        "KEITHLEY INSTRUMENTS INC.,MODEL 2182A,4017523,C02  /A02",   # the simulated lab's
    ],
    Keysight34465A: [
        # the Truevolt Operating and Service Guide's *IDN? (firmware 2.0 and later), its form
        # with a serial and firmware fields filled in as a 2.x unit has them
        "Keysight Technologies,34465A,MY57501234,A.02.14-02.40-02.14-00.49-03-01",
        # QCoDeS's pyvisa-sim file, qcodes/instrument/sims/Keysight_34465A.yaml
        "Keysight, 34465A, 1000, A.02.16-02.40-02.16-00.51-03-01",
        "Keysight Technologies,34465A,MY57508823,A.02.17-02.40-02.17-00.52-04-01",  # the lab's
    ],
    Keithley2400: [
        # the 2400 manual's *IDN? form (16-3), as pymeasure's test_keithley2400.py quotes it
        "KEITHLEY INSTRUMENTS INC., MODEL 2400, xxxxxxx, yyyyy/zzzzz /a/d",
        "KEITHLEY INSTRUMENTS INC.,MODEL 2400,4112836,C32   Oct  4 2010 14:20:11/A02  /K/J",  # the lab's
    ],
    LakeShore425: [
        # the Model 425 manual's *IDN? example
        "LSCI,MODEL425,4250022,1.0",
        # simonsobs/socs, tests of its LS425 agent
        "LSCI,MODEL425,LSA425T,1.3",
    ],
    LakeShore336: [
        # real 336 replies quoted in public lab scripts: instrument serial / option-card serial
        "LSCI,MODEL336,LSA165V/#######,2.7",
        "LSCI,MODEL336,LSA2CMQ/LSA2C8R,2.9",
        # the form of the 335/336/350 manuals' *IDN? (e.g. LSCI,MODEL350,1234567/1234567,1.0)
        "LSCI,MODEL336,1234567/1234567,1.0",
        "LSCI,MODEL336,LSA1B2C,2.9",                           # the simulated lab's
    ],
    LakeShore372: [
        # the Lake Shore *IDN? form (serial/option-card serial) of the 335/336/350/372 manuals;
        # no real 372 transcript seen
        "LSCI,MODEL372,1234567/1234567,1.0",
        "LSCI,MODEL372,LSA2B4C/3726A17,1.4",                   # the simulated lab's
    ],
    MercuryITC: [
        # a real iTC's reply, pymeasure's recorded test (tests/instruments/oxfordinstruments/
        # test_mercuryitc.py)
        "IDN:OXFORD INSTRUMENTS:MERCURY ITC:232150255:2.6.04.000",
        # the Operator's Manual's form (8.3.2: IDN:OXFORD INSTRUMENTS:MERCURY dd:ss:ff), with
        # the manual's spelling of the type
        "IDN:OXFORD INSTRUMENTS:MERCURY iTC:123456789:2.5.03.000",
        "IDN:OXFORD INSTRUMENTS:MERCURY ITC:232160478:2.6.04.000",   # the simulated lab's
    ],
}

REFUSED = {
    KepcoBOP: [
        "KEPCO,BIT 4886 20-20  08-04-2023,H249977,4.04-1.82",   # a BOP 20-20: 20 A, 20 V
        "KEPCO,BOP 20-20M,E1234,2.6",
        "KEPCO,BOP 36-6M,E1234,2.6",                            # 6 A, not 12
        "KEPCO,BOP 36-120,E1234,2.6",
        "KEPCO,BOP1KW 50-20 ,E156884, 2.01",                    # a 1 kW BOP (public driver)
        "KEPCO BOP BIT232 REV. 3.1",                            # BIT 232: no rating in the reply
        "KEPCO,BOP 50-20,E1234,2.6",                            # the ISIS emulator's BOP
        "LSCI,MODEL336,LSA1B2C,2.9",
    ],
    AMI430: [
        "AMERICAN MAGNETICS INC.,MODEL 420,1234,1.0",          # the older programmer
        "AMERICAN MAGNETICS INC.,MODEL 4300,1234,1.0",
        "QCoDeS, AMI430_simulation, 1337, 0.0.01",   # QCoDeS's pyvisa-sim AMI430.yaml: no 430
        "KEPCO,BIT 4886 36-12  08-04-2023,H249977,4.04-1.82",
    ],
    Cryomagnetics4G: [
        "Cryomagnetics,CS-4,1234,1.0",                          # the older CS-4 supply
        "Cryomagnetics,LM-510,1234,1.0",                        # their level meter
        "Cryomagnetics,4G0,1234,1.0",
        "AMERICAN MAGNETICS INC.,MODEL 430,430-2417,2.65",
    ],
    MercuryIPS: [
        "IDN:OXFORD INSTRUMENTS:MERCURY iTC:123456:2.5.09.000",   # the temperature controller
        "IDN:OXFORD INSTRUMENTS:MERCURY iPS0:123456:2.5.09.000",
        "IPS120-10  Version 3.07  (c) OXFORD 1996",                 # the legacy IPS's V reply
        "Cryomagnetics,4G,2417,1.02,208",
    ],
    SR830: [
        "Stanford_Research_Systems,SR810,s/n12345,ver1.07",    # one phase only
        "Stanford_Research_Systems,SR850,s/n12345,ver1.07",
        "Stanford_Research_Systems,SR860,002819,v1.51",
        "Stanford Research Systems,SR124,s/n098023,ver1.00",   # the SR124 manual's example
        "prefix Stanford_Research_Systems,SR830,s/n12345,ver1.07",
    ],
    SR860: [
        "Stanford_Research_Systems,SR830,s/n12345,ver1.07",
        "Stanford_Research_Systems,SR8600,002819,v1.51",
    ],
    SR865A: [
        "Stanford_Research_Systems,SR860,002819,v1.51",        # 500 kHz: the SR865A's range is not its
        "Stanford_Research_Systems,SR865,003301,v1.51",        # 2 MHz
    ],
    Ametek7270: [
        "7265",                                                # another Signal Recovery model
        "7220",                                                # the 7220 manual's ID reply
    ],
    Keithley2182: [
        "KEITHLEY INSTRUMENTS INC., MODEL 2000, 1234567, A02 /A02",   # the 2000 manual's form
        "KEITHLEY INSTRUMENTS INC.,MODEL 6517B,1234567,A13/700x",
        "KEITHLEY INSTRUMENTS INC.,MODEL 21820,1234567,C02 /A02",
    ],
    Keysight34465A: [
        # the guide's other Truevolt models: other NPLC lists and noise (34470A: 7.5 digits)
        "Keysight Technologies,34470A,MY12345678,A.02.14-02.40-02.14-00.49-03-01",
        "Keysight Technologies,34461A,MY12345678,A.02.14-02.40-02.14-00.49-03-01",
        # a 34465A set to SYSTem:IDENtify AT34410A answers as a 34410A: nothing tells them apart
        "Agilent Technologies,34410A,MY12345678,A.02.14-02.40-02.14-00.49-03-01",
        "HEWLETT-PACKARD,34401A,0,11-5-2",
        "Keysight Technologies,344650,MY12345678,A.02.14",
    ],
    Keithley2400: [
        "KEITHLEY INSTRUMENTS INC., MODEL 2410, xxxxxxx, yyyyy/zzzzz /a/d",   # 1100 V, same manual
        "KEITHLEY INSTRUMENTS INC., MODEL 2440, xxxxxxx, yyyyy/zzzzz /a/d",   # 5 A
        "KEITHLEY INSTRUMENTS INC.,MODEL 2182A,4017523,C02  /A02",
    ],
    LakeShore425: [
        "LSCI,MODEL421,0,070199",                               # the 421 manual's example
        "LSCI,MODEL455,1234567,1.0",
        "LSCI,MODEL4250,1234567,1.0",
    ],
    LakeShore336: [
        "LSCI,MODEL335,1234567/1234567,1.0",                    # the 335 manual's example
        "LSCI,MODEL350,1234567/1234567,1.0",                    # the 350 manual's example
        "LSCI,MODEL331S,123456,020399",                         # the 331 manual's example
        "QCoDeS, m0d3l, 336, 0.0.01",             # QCoDeS's lakeshore_model336.yaml: no 336
    ],
    LakeShore372: [
        "LSCI,MODEL370,1234567,1.0",              # the 370 bridge: the 372's predecessor
        "LSCI,MODEL336,LSA1B2C,2.9",
        "LSCI,MODEL3720,1234567/1234567,1.0",
    ],
    MercuryITC: [
        # the Mercury iPS magnet supply: same family, same IDN form (QCoDeS's MercuryiPS.yaml)
        "IDN:OXFORD INSTRUMENTS:SIMULATED MERCURY iPS:000:000",
        "IDN:OXFORD INSTRUMENTS:MERCURY IPS:232150256:2.6.04.000",
        "IDN:OXFORD INSTRUMENTS:MERCURY Cryojet:232150257:2.6.04.000",   # 8.3.2's third type
        "IDN:OXFORD INSTRUMENTS:MERCURY ITCX:1:1",
        "LSCI,MODEL336,LSA1B2C,2.9",
    ],
}


def _cases(table):
    return [pytest.param(cls, idn, id=f"{cls.__name__}:{idn}") for cls, idns in table.items()
            for idn in idns]


@pytest.mark.parametrize("driver,idn", _cases(ACCEPTED))
def test_real_identity_strings_are_accepted(driver, idn):
    assert driver.identity_matches(idn)
    assert driver.identity_matches("  " + idn.lower() + "\r\n")       # case, whitespace


@pytest.mark.parametrize("driver,idn", _cases(REFUSED))
def test_other_models_are_refused(driver, idn):
    assert not driver.identity_matches(idn)


def test_the_refusal_names_the_reply_and_the_accepted_forms():
    with expected_protocol(KepcoBOP, [("*IDN?", "KEPCO,BOP 20-20M,E1234,2.6")]) as bop:
        with pytest.raises(InstrumentError, match=r"wrong instrument at protocol: \*IDN\? answered "
                           r"'KEPCO,BOP 20-20M,E1234,2.6', expected a Kepco BOP 36-12: "
                           r"'KEPCO,BOP 36-12\.\.\.' or 'KEPCO,BIT 4886 36-12 \.\.\.'"):
            bop.check_identity()


def test_every_simulated_instrument_answers_as_its_real_model():
    from loopscope.sim_devices.instruments.ami430 import AMI430 as SimAMI
    from loopscope.sim_devices.instruments.keithley2182 import Keithley2182A as SimK2182
    from loopscope.sim_devices.instruments.kepco_bop import KepcoBOP as SimKepco
    from loopscope.sim_devices.instruments.keysight34465a import Keysight34465A as SimK34465A
    from loopscope.sim_devices.instruments.lakeshore336 import LakeShore336 as SimLS336
    from loopscope.sim_devices.instruments.lakeshore425 import LakeShore425 as SimLS425
    from loopscope.sim_devices.instruments.sr830 import SR830 as SimSR830
    from loopscope.sim_devices.instruments.sr860 import SR860 as SimSR860
    from loopscope.sim_devices.instruments.ametek7270 import Ametek7270 as Sim7270
    from loopscope.sim_devices.instruments.sr860 import SR865A as SimSR865A
    from loopscope.sim_devices.instruments.lakeshore372 import LakeShore372 as SimLS372
    from loopscope.sim_devices.instruments.mercury_ips import MercuryIPS as SimMercury
    from loopscope.sim_devices.instruments.mercury_itc import MercuryITC as SimITC
    pairs = [(SR865A, SimSR865A), (Ametek7270, Sim7270),
             (KepcoBOP, SimKepco), (AMI430, SimAMI), (SR830, SimSR830), (SR860, SimSR860),
             (Keithley2182, SimK2182), (LakeShore425, SimLS425), (LakeShore336, SimLS336),
             (Keysight34465A, SimK34465A), (LakeShore372, SimLS372), (MercuryIPS, SimMercury),
             (MercuryITC, SimITC)]
    for driver, sim in pairs:
        assert driver.identity_matches(sim.idn), (driver.__name__, sim.idn)
    # the Kepco in the BIT 4886's form, as pymeasure's transcript of a real unit
    assert SimKepco.idn.startswith("KEPCO,BIT 4886 36-12  ")
