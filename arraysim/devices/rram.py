"""HfO2 RRAM: resistance statistics versus programming condition, read I-V law, temperature.

Model (physics.md section 3; every default marked *typical* is a plausible starting value, not a fit):

* LRS after SET with compliance current I_c: median ``R_LRS = lrs_v0 / I_c`` (filamentary V_0 / I_c law).
  ``lrs_v0`` is chosen so that the default compliance (50 uA) gives the one measured LRS statistic of this
  technology, mean 6988 Ohm, std 381.7 Ohm (2107.06064 authors' code), i.e. sigma_ln = 0.0546.  The
  log-spread grows as I_c falls: ``sigma_ln(I_c) = lrs_sigma_ref * (lrs_ic_ref / I_c) ** lrs_sigma_exp``.
* HRS after RESET at voltage V_R: median ``hrs_r_ref * exp((V_R - hrs_vr_ref) / hrs_vr_slope)`` (tens of
  kOhm to above 100 kOhm), lognormal with a wide constant ``hrs_sigma``.
* Each log-variance is split into device-to-device (drawn per device) and cycle-to-cycle (drawn per
  programming cycle) parts by ``*_d2d_fraction``; either part can be switched off.
* Read I-V law: ``I = (V_nl / R) sinh(V / V_nl)`` with ``R`` the low-field resistance (dI/dV at 0).  The
  nonlinearity grows as the filament thins: ``1 / V_nl = w(R) / vnl_hrs`` with ``w(R) = R / (R + r_knee)``
  (LRS ~7 kOhm: V_nl ~ 1 V, nearly ohmic; HRS ~100 kOhm: V_nl ~ 0.3 V).
* Temperature: ``R(T) = R(T_NOM) * exp(w(R) * ea_hrs / k * (1/T - 1/T_NOM)) * (1 + (1 - w(R)) * tcr_lrs *
  (T - T_NOM))``: HRS thermally activated, LRS nearly metallic.

The resistances in a read instance (``arraysim read``) are low-field resistances *at the read temperature*:
the I-V law is applied to them, the temperature law is not applied again.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..units import K_B, Q_E, T_NOM


@dataclass(frozen=True)
class Programming:
    """Programming condition of the devices."""

    i_compliance: float = 50e-6
    """SET compliance current [A] (sets the LRS)."""
    v_reset: float = 1.5
    """RESET voltage [V] (sets the HRS)."""

    def label(self) -> str:
        return f"Ic={self.i_compliance * 1e6:g}uA,Vr={self.v_reset:g}V"


@dataclass(frozen=True)
class RRAMParams:
    """HfO2 RRAM statistical and electrical parameters (SI units)."""

    lrs_v0: float = 6988.0 * 50e-6
    """R_LRS = lrs_v0 / I_c [V]; 0.3494 V puts the default (50 uA) median at 6988 Ohm (2107.06064)."""
    lrs_ic_ref: float = 50e-6
    """Compliance at which lrs_sigma_ref holds [A]."""
    lrs_sigma_ref: float = 381.7 / 6988.0
    """Log-spread of LRS at lrs_ic_ref [-] (381.7/6988, 2107.06064)."""
    lrs_sigma_exp: float = 1.0
    """Growth of the LRS log-spread as I_c falls [-] (typical)."""
    lrs_d2d_fraction: float = 0.5
    """Share of the LRS log-variance that is device-to-device (typical)."""
    hrs_r_ref: float = 60e3
    """HRS median at hrs_vr_ref [Ohm] (typical)."""
    hrs_vr_ref: float = 1.5
    """[V]"""
    hrs_vr_slope: float = 0.5
    """RESET voltage per e-fold of HRS median [V] (typical)."""
    hrs_sigma: float = 0.6
    """HRS log-spread [-] (typical; much wider than LRS)."""
    hrs_d2d_fraction: float = 0.5
    """Share of the HRS log-variance that is device-to-device (typical)."""
    vnl_hrs: float = 0.25
    """sinh nonlinearity voltage of a fully formed HRS [V] (typical)."""
    r_knee: float = 20e3
    """Resistance at which the device is half 'HRS-like' in the nonlinearity/temperature blend [Ohm]."""
    ea_hrs: float = 0.1
    """Activation energy of HRS conduction [eV] (typical)."""
    tcr_lrs: float = 1.0e-3
    """Temperature coefficient of LRS resistance [1/K] (typical)."""

    # --- statistics versus programming -------------------------------------------------------------
    def lrs_median(self, prog: Programming) -> float:
        return self.lrs_v0 / prog.i_compliance

    def lrs_sigma(self, prog: Programming) -> float:
        return self.lrs_sigma_ref * (self.lrs_ic_ref / prog.i_compliance) ** self.lrs_sigma_exp

    def hrs_median(self, prog: Programming) -> float:
        return self.hrs_r_ref * np.exp((prog.v_reset - self.hrs_vr_ref) / self.hrs_vr_slope)

    def hrs_sigma_total(self, prog: Programming) -> float:
        return self.hrs_sigma

    def log_stats(self, prog: Programming, lrs: bool, d2d: bool = True, c2c: bool = True):
        """(ln median, sigma_ln) of the resistance at T_NOM with the chosen variability parts."""
        if lrs:
            med, sig, frac = self.lrs_median(prog), self.lrs_sigma(prog), self.lrs_d2d_fraction
        else:
            med, sig, frac = self.hrs_median(prog), self.hrs_sigma_total(prog), self.hrs_d2d_fraction
        var = sig * sig * ((frac if d2d else 0.0) + ((1.0 - frac) if c2c else 0.0))
        return float(np.log(med)), float(np.sqrt(var))

    # --- electrical ----------------------------------------------------------------------------------
    def hrs_weight(self, r):
        r = np.asarray(r, dtype=float)
        return r / (r + self.r_knee)

    def vnl(self, r):
        """Nonlinearity voltage V_nl(R) of the read I-V law [V]."""
        return self.vnl_hrs / self.hrs_weight(r)

    def at_temperature(self, r_nom, temp_k: float):
        """Low-field resistance at ``temp_k`` of devices whose resistance at T_NOM is ``r_nom``."""
        r_nom = np.asarray(r_nom, dtype=float)
        w = self.hrs_weight(r_nom)
        act = np.exp(w * self.ea_hrs * Q_E / K_B * (1.0 / temp_k - 1.0 / T_NOM))
        return r_nom * act * (1.0 + (1.0 - w) * self.tcr_lrs * (temp_k - T_NOM))

    def current(self, v, r):
        """Read current [A] at voltage ``v`` of a device of low-field resistance ``r`` (numpy)."""
        vnl = self.vnl(r)
        return vnl / r * np.sinh(np.asarray(v) / vnl)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
