"""A dilution refrigerator: the mixing-chamber temperature from the cooling power of the
dilution unit, the heat loads and the two heaters a Lake Shore 372 drives (sample heater on the
mixing chamber, still heater), with the plate's heat capacity so a step settles over minutes.

Cooling power (Pobell, "Matter and Methods at Low Temperatures", 3rd ed., section 7.3, the
enthalpy balance of the mixing chamber): 3He crossing the phase boundary at n3 mol/s takes

    Q_mc = n3 (95 T_mc^2 - 11 T_ex^2)  W      (T in K)

where T_ex is the temperature of the concentrated 3He leaving the last heat exchanger; with
ideal exchangers (T_ex = T_mc) this is the familiar 84 n3 T^2. The mixing chamber settles where
Q_mc equals the load: the residual heat leak plus the sample heater's I^2 R. With no load the
base temperature is T_ex sqrt(11/95) = 0.34 T_ex (the exchangers set the base).

Circulation: the still heater evaporates 3He, n3 = P_still / L with L ~ 40 J/mol the latent
heat of 3He at the still's ~0.7 K (Pobell 7.3, "the still heater ... determines the 3He flow
rate"); the pumps cap it at n3_max (here n3 = n3_max (1 - exp(-P_still / (L n3_max))): linear
at small power, saturating at the pumping speed).

Heat capacity: the plate, the mixture and the sample stage, C = gamma T (the dilute Fermi
liquid's linear specific heat dominates below 100 mK). With C = gamma T and Q ~ T^2 the
energy balance is linear in u = T^2:

    (gamma / 2) du/dt = P_load + 11 n3 T_ex^2 - 95 n3 u

so u relaxes exponentially with tau = gamma / (190 n3), independent of temperature (90 s
with the defaults): closed form, like the other models of the lab.

The sample heater's closed loop (the 372's PID on the mixing-chamber thermometer) is modelled
as a loop that drives full range power (or none) until the setpoint is reached and then holds
the power that balances the cooling there; a setpoint beyond what the range can hold is
approached but not reached (the range's I_max^2 R is the ceiling). Open loop: the manual
output in % of the range's current, P = (pct/100)^2 I_max^2 R.
"""
from __future__ import annotations

import math

#: the Lake Shore 372's sample-heater ranges (RANGE 0,<n>): full-scale current in A
#: (Model 372 manual, RANGE command: 1 = 31.6 uA ... 8 = 100 mA)
SAMPLE_HEATER_RANGE_A = {0: 0.0, 1: 31.6e-6, 2: 100e-6, 3: 316e-6, 4: 1.00e-3, 5: 3.16e-3,
                         6: 10.0e-3, 7: 31.6e-3, 8: 100e-3}
#: the sample heater's compliance voltage (Model 372 manual 4.6.1: 10 V)
SAMPLE_HEATER_COMPLIANCE_V = 10.0


class DilutionRefrigerator:
    """The mixing-chamber plate of a dilution refrigerator and the stages around it."""

    kind = "dilution_refrigerator"

    def __init__(self, exchanger_temperature_K: float, residual_heat_load_W: float,
                 heat_capacity_J_per_K2: float, still_latent_heat_J_per_mol: float,
                 max_circulation_mol_per_s: float, still_heater_resistance_ohm: float,
                 still_power_W: float, sample_heater_resistance_ohm: float,
                 still_temperature_K: float, cold_plate_K: float, plate_4K_K: float,
                 plate_50K_K: float, initial_temperature_K: float | None = None):
        self.T_ex = exchanger_temperature_K
        self.Q0 = residual_heat_load_W
        self.gamma = heat_capacity_J_per_K2
        self.L = still_latent_heat_J_per_mol
        self.n3_max = max_circulation_mol_per_s
        self.still_heater_ohm = still_heater_resistance_ohm
        self.still_power_W = still_power_W
        self.heater_ohm = sample_heater_resistance_ohm
        self.still_K, self.cold_plate_K = still_temperature_K, cold_plate_K
        self.plate_4K_K, self.plate_50K_K = plate_4K_K, plate_50K_K
        # sample heater state, as the 372 sets it
        self.heater_range = 0          # 0 off .. 8
        self.mode = "off"              # off | closed | open
        self.setpoint_K = 0.0
        self.manual_output_pct = 0.0   # open loop: % of the range's current
        self._driving = 0.0            # closed loop: power while not yet at the setpoint
        self._holding = False
        self.temperature_K = self.base_temperature_K() if initial_temperature_K is None \
            else float(initial_temperature_K)

    # ----------------------------------------------------------------- the unit
    def circulation_mol_per_s(self) -> float:
        p = max(self.still_power_W, 0.0)
        return self.n3_max * (1.0 - math.exp(-p / (self.L * self.n3_max)))

    def _u_eq(self, load_W: float) -> float:
        """T^2 where cooling balances this load (the residual leak is added here)."""
        n3 = self.circulation_mol_per_s()
        if n3 <= 0:
            return math.inf
        return (11.0 * n3 * self.T_ex ** 2 + self.Q0 + load_W) / (95.0 * n3)

    def base_temperature_K(self) -> float:
        return math.sqrt(self._u_eq(0.0))

    def cooling_power_W(self, temperature_K: float) -> float:
        """What the unit extracts at this mixing-chamber temperature (above the residual leak)."""
        n3 = self.circulation_mol_per_s()
        return n3 * (95.0 * temperature_K ** 2 - 11.0 * self.T_ex ** 2) - self.Q0

    def time_constant_s(self) -> float:
        n3 = self.circulation_mol_per_s()
        return math.inf if n3 <= 0 else self.gamma / (190.0 * n3)

    # ----------------------------------------------------------------- the sample heater
    def range_max_power_W(self, rng: int | None = None) -> float:
        """I_max^2 R of a range, or V_compliance^2 / R where the 10 V compliance limits it."""
        i = SAMPLE_HEATER_RANGE_A[self.heater_range if rng is None else rng]
        return min(i ** 2 * self.heater_ohm, SAMPLE_HEATER_COMPLIANCE_V ** 2 / self.heater_ohm) if i else 0.0

    def max_temperature_K(self, rng: int) -> float:
        """The warmest the mixing chamber gets with this range at full power."""
        return math.sqrt(self._u_eq(self.range_max_power_W(rng)))

    def heater_power_W(self) -> float:
        """The power the sample heater delivers now."""
        pmax = self.range_max_power_W()
        if self.heater_range == 0 or self.mode == "off" or pmax == 0:
            return 0.0
        if self.mode == "open":
            return (self.manual_output_pct / 100.0) ** 2 * pmax
        if self._holding:
            return self._hold_power_W(pmax)
        return self._drive_power_W(pmax)

    def _hold_power_W(self, pmax: float) -> float:
        n3 = self.circulation_mol_per_s()
        need = n3 * (95.0 * self.setpoint_K ** 2 - 11.0 * self.T_ex ** 2) - self.Q0
        return max(0.0, min(pmax, need))

    def _drive_power_W(self, pmax: float) -> float:
        return pmax if self.temperature_K < self.setpoint_K else 0.0

    def heater_output_pct(self) -> float:
        """The sample heater output in % of the range's full-scale current (HTR?)."""
        pmax = self.range_max_power_W()
        return 0.0 if pmax == 0 else 100.0 * math.sqrt(self.heater_power_W() / pmax)

    def set_loop(self) -> None:
        """A setpoint, range or mode change: the loop starts driving again."""
        self._holding = False

    # ----------------------------------------------------------------- evolution
    def advance(self, dt: float) -> None:
        if dt <= 0:
            return
        tau = self.time_constant_s()
        u = self.temperature_K ** 2
        if not math.isfinite(tau):
            # no circulation (the still heater off): nothing cools, the leak and the heater
            # warm the plate, (gamma / 2) du/dt = P_load
            self.temperature_K = math.sqrt(u + 2.0 * (self.Q0 + self.heater_power_W()) * dt / self.gamma)
            return
        pmax = self.range_max_power_W()
        closed = self.mode == "closed" and self.heater_range > 0 and pmax > 0
        if not closed:
            u_eq = self._u_eq(self.heater_power_W())
            self.temperature_K = math.sqrt(u_eq + (u - u_eq) * math.exp(-dt / tau))
            return
        u_sp = self.setpoint_K ** 2
        u_lo, u_hi = self._u_eq(0.0), self._u_eq(pmax)
        target = min(max(u_sp, u_lo), u_hi)
        if self._holding and target == u_sp:
            self.temperature_K = self.setpoint_K
            return
        drive = u_hi if u < target else u_lo
        if drive == target or abs(u - target) <= 1e-15:
            # the setpoint lies beyond what the range can do (or is reached): relax toward it
            self.temperature_K = math.sqrt(target + (u - target) * math.exp(-dt / tau))
            self._holding = abs(u - target) <= 1e-15 and target == u_sp
            return
        t_reach = tau * math.log((drive - u) / (drive - target))
        if dt >= t_reach:
            self.temperature_K = self.setpoint_K
            self._holding = True
        else:
            self.temperature_K = math.sqrt(drive + (u - drive) * math.exp(-dt / tau))
