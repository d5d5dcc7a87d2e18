"""SI units inside; these constants convert for input and display (``3 * fF`` is 3e-15 F)."""
K_B = 1.380649e-23  # J/K
Q_E = 1.602176634e-19  # C
T_NOM = 300.15  # K (27 degC), temperature at which parameter sets are specified

fF = 1e-15
pF = 1e-12
ps = 1e-12
ns = 1e-9
fJ = 1e-15
um = 1e-6
nm = 1e-9
mV = 1e-3
uA = 1e-6
kOhm = 1e3


def thermal_voltage(temp_k: float) -> float:
    """kT/q in volts."""
    return K_B * temp_k / Q_E


def celsius_to_kelvin(temp_c: float) -> float:
    return temp_c + 273.15
