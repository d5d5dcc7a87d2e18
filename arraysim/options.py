"""Options with a fixed set of values, defined once."""
from __future__ import annotations

import enum


class _Choice(str, enum.Enum):
    @classmethod
    def parse(cls, value):
        """Accept a member or its (case-insensitive) value; raise a ValueError naming the allowed values."""
        if isinstance(value, cls):
            return value
        text = str(value).strip().lower()
        for m in cls:
            if m.value.lower() == text:
                return m
        allowed = ", ".join(m.value for m in cls)
        raise ValueError(f"unknown {cls._label()} {value!r}; allowed: {allowed}")

    @classmethod
    def _label(cls):
        return cls.__name__.lower()

    def __str__(self):
        return self.value


class Corner(_Choice):
    """Global process corner (first letter NMOS, second PMOS)."""
    TT = "tt"
    FF = "ff"
    SS = "ss"
    FS = "fs"
    SF = "sf"


class Cell(_Choice):
    """Memory cell read by the sense amplifier."""
    C2T2R = "2t2r"  # complementary pair: BL and BLb devices
    C1T1R = "1t1r"  # one device against a reference resistor

    @classmethod
    def _label(cls):
        return "cell"


class Readout(_Choice):
    """How the sense amplifier outputs are decoded.

    binary: weights +1/-1, one output low decides.  ternary: weights +1/0/-1 with 0 = (HRS, HRS); both
    outputs still above the threshold at the end of the window read as 0.  xnor: the XNOR circuit with a
    random binary input x per read; the expected output is XNOR(x, w) = w if x = 1 else -w."""
    BINARY = "binary"
    TERNARY = "ternary"
    XNOR = "xnor"


class Variability(_Choice):
    """Sources of variation that can each be switched off."""
    GLOBAL = "global"      # die-to-die process variation around the corner
    MISMATCH = "mismatch"  # local (Pelgrom) transistor mismatch
    D2D = "d2d"            # RRAM device-to-device
    C2C = "c2c"            # RRAM cycle-to-cycle


ALL_VARIABILITY = frozenset(Variability)
