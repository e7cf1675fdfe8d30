# The commands people type. `make book` and `make test` set up the environment themselves.
#
#   make book                 build the HTML book into _build/html (executes chapters, cached)
#   make test                 run every test: library, chapters, book build, grading round trip
#   make release ASSIGNMENT=logit_mle            regenerate assignments/ from solutions/
#   make collect ASSIGNMENT=logit_mle FROM=dir   copy a folder of submissions into submitted/
#   make autograde ASSIGNMENT=logit_mle [STUDENT=id]
#   make feedback ASSIGNMENT=logit_mle [STUDENT=id]   feedback HTML, hidden tests removed
#   make grades                                  export every grade to grades.csv
#   make grade ASSIGNMENT=logit_mle [FROM=dir|zip] [STUDENT=id] [JOBS=n] [FORCE=1] [MEMORY_GIB=0]
#                        a whole class in parallel: feedback, grading/<assignment>/grades.csv, report
#   make bench [QUICK=1] [THREADS=1] [ONLY=pattern] [RESUME=1] [UPDATE=1]   benchmarks/README.md
#   make browser              install Chromium for the browser tests (apt-get, root; make test does)
#   make sandbox              install bubblewrap, which sandboxes grading kernels (apt-get, root)
#   make postgres             install PostgreSQL for the shared-gradebook test (apt-get, root)

PYTHON ?= python3
# GPU runners: override with e.g. TORCH_SPEC="torch==2.13.0 --index-url <a CUDA wheel index>".
TORCH_SPEC ?= torch==2.13.0
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# nbgrader runs tools (alembic, jupyter) by name: the environment's bin comes first.
export PATH := $(abspath $(BIN)):$(PATH)
BOOK_FLAGS := -W -n --keep-going
ASSIGNMENT ?= logit_mle
STUDENT ?=
FROM ?=
JOBS ?=
FORCE ?=
MEMORY_GIB ?=
STUDENT_FLAG := $(if $(STUDENT),--student=$(STUDENT),)

.PHONY: install book test release collect autograde feedback grades grade clean browser mathjax bench \
	sandbox postgres

install: $(STAMP)

# torch goes in first with an exact pin: any looser spec pulls gigabytes of CUDA packages.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[book,grading,test]'
	@if $(BIN)/python -m pip list 2>/dev/null | grep -i nvidia; then \
		echo "error: CUDA packages were installed; install $(TORCH_SPEC) before the rest" >&2; \
		exit 1; fi
	touch $@

book: $(STAMP) mathjax
	$(BIN)/jupyter-book build . $(BOOK_FLAGS)

test: $(STAMP) mathjax browser sandbox postgres
	$(BIN)/python -m pytest

release: $(STAMP)
	$(BIN)/nbgrader generate_assignment $(ASSIGNMENT) --force

collect: $(STAMP)
	$(BIN)/python -m course_lib.instructor collect $(ASSIGNMENT) $(FROM)

autograde: $(STAMP) sandbox
	$(BIN)/nbgrader autograde $(ASSIGNMENT) $(STUDENT_FLAG) --force

feedback: $(STAMP)
	$(BIN)/nbgrader generate_feedback $(ASSIGNMENT) $(STUDENT_FLAG) --force

grades: $(STAMP)
	$(BIN)/nbgrader export --to grades.csv

grade: $(STAMP) sandbox
	$(BIN)/python -m course_lib.instructor grade $(ASSIGNMENT) $(if $(FROM),--from '$(FROM)',) \
		$(if $(STUDENT),--student '$(STUDENT)',) $(if $(JOBS),--jobs $(JOBS),) $(if $(FORCE),--force,) \
		$(if $(MEMORY_GIB),--memory-gib $(MEMORY_GIB),)

clean:
	rm -rf _build

# --- Browser tests and the book's MathJax -------------------------------------------------------

# MathJax 3 is served with the book, not from a CDN: the book works offline and the browser tests
# (no internet) see typeset math. `npm pack` fetches the pinned release from the npm registry into
# the environment; _config.yml copies it into the book's _static/mathjax.
MATHJAX_VERSION := 3.2.2
MATHJAX := $(VENV)/book-assets/_static/mathjax
MATHJAX_STAMP := $(MATHJAX)/tex-mml-chtml.js

mathjax: $(MATHJAX_STAMP)

$(MATHJAX_STAMP):
	@command -v npm >/dev/null || { echo "error: npm is needed to bundle MathJax with the book;" \
		"install Node.js (Debian: apt-get install npm), then run make again" >&2; exit 1; }
	rm -rf $(VENV)/mathjax-download $(MATHJAX) && mkdir -p $(VENV)/mathjax-download $(dir $(MATHJAX))
	cd $(VENV)/mathjax-download && npm pack --silent mathjax@$(MATHJAX_VERSION) >/dev/null
	tar -xzf $(VENV)/mathjax-download/mathjax-$(MATHJAX_VERSION).tgz -C $(VENV)/mathjax-download
	mv $(VENV)/mathjax-download/package/es5 $(MATHJAX)
	rm -rf $(VENV)/mathjax-download

# Debian's Chromium, which tests/browser drives through Playwright (no browser download). Only
# the tests need it: `make install` does not, so students need neither root nor apt.
CHROMIUM ?= /usr/bin/chromium
export CHROMIUM
SUDO := $(if $(filter 0,$(shell id -u)),,sudo -n)

browser:
	@if [ -x $(CHROMIUM) ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null || ! $(SUDO) true 2>/dev/null; then \
		echo "error: the browser tests need Chromium at $(CHROMIUM), and installing it needs" \
			"apt-get as root. Install Debian's 'chromium' package, or run the other tests" \
			"with: $(BIN)/python -m pytest --ignore=tests/browser" >&2; \
		exit 1; fi; \
	echo "installing Chromium with apt-get (once)"; \
	$(SUDO) apt-get update -q && \
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		chromium fonts-liberation

# Grading kernels run in a bubblewrap sandbox (course_lib/sandbox.py). Without it grading still
# works, unsandboxed and with a warning, so a machine that cannot install it is not stopped.
sandbox:
	@if command -v bwrap >/dev/null; then exit 0; fi; \
	if ! command -v apt-get >/dev/null || ! $(SUDO) true 2>/dev/null; then \
		echo "warning: bubblewrap (bwrap) is missing and cannot be installed here (apt-get as" \
			"root); grading kernels will not be sandboxed" >&2; \
		exit 0; fi; \
	echo "installing bubblewrap with apt-get (once)"; \
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		bubblewrap || { $(SUDO) apt-get update -q && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap; }

# The PostgreSQL gradebook test starts a throw-away server from Debian's postgresql package.
postgres:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then exit 0; fi; \
	if ! command -v apt-get >/dev/null || ! $(SUDO) true 2>/dev/null; then \
		echo "error: the PostgreSQL gradebook test needs Debian's postgresql package (apt-get" \
			"as root), or run the other tests with: $(BIN)/python -m pytest" \
			"--deselect tests/assignments/test_postgres_gradebook.py" >&2; \
		exit 1; fi; \
	echo "installing PostgreSQL with apt-get (once)"; \
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		postgresql || { $(SUDO) apt-get update -q && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql; }

# --- Benchmarks (benchmarks/README.md) ----------------------------------------------------------

# The bench extra adds the peer libraries that are not course dependencies (zuko, normflows). A
# full run also builds the book, hence MathJax; QUICK=1 runs the toy flows on two moons only.
QUICK ?=
THREADS ?= 1
ONLY ?=
RESUME ?=
UPDATE ?=
BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[bench]'
	touch $@

bench: $(BENCH_STAMP) $(if $(QUICK),,mathjax)
	$(BIN)/python -m benchmarks.run --threads $(THREADS) $(if $(QUICK),--quick,) \
		$(if $(ONLY),--only '$(ONLY)',) $(if $(RESUME),--resume,) $(if $(UPDATE),--update,)
