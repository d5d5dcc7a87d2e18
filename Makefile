# arraysim: the README's two commands are `make sweep` (main job) and `make test` (test suite).
PYTHON ?= python3
OUT ?= out

.PHONY: install sweep test bench

install:
	$(PYTHON) -m pip install -q -e ".[test]"

# Main job: binary-readout BER vs supply on the built-in generic130 technology (no PDK, no SPICE).
sweep: install
	mkdir -p $(OUT)
	$(PYTHON) -m arraysim ber --vdd 0.4:1.2:0.1 --samples 20000 --seed 1 \
	  --out $(OUT)/ber_vs_vdd.csv --out $(OUT)/ber_vs_vdd.json --out $(OUT)/ber_vs_vdd.npz \
	  --plot $(OUT)/ber_vs_vdd.png

test: install
	$(PYTHON) -m pytest -q

bench: install
	$(PYTHON) benchmarks/bench_kernel.py
