# The commands people type. `make book` and `make test` set up the environment themselves.
#
#   make book                 build the HTML book into _build/html (executes chapters, cached)
#   make test                 run every test: library, chapters, book build, grading round trip
#   make release ASSIGNMENT=logit_mle            regenerate assignments/ from solutions/
#   make collect ASSIGNMENT=logit_mle FROM=dir   copy a folder of submissions into submitted/
#   make autograde ASSIGNMENT=logit_mle [STUDENT=id]
#   make feedback ASSIGNMENT=logit_mle [STUDENT=id]   feedback HTML, hidden tests removed
#   make grades                                  export every grade to grades.csv

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
STUDENT_FLAG := $(if $(STUDENT),--student=$(STUDENT),)

.PHONY: install book test release collect autograde feedback grades clean

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

book: $(STAMP)
	$(BIN)/jupyter-book build . $(BOOK_FLAGS)

test: $(STAMP)
	$(BIN)/python -m pytest

release: $(STAMP)
	$(BIN)/nbgrader generate_assignment $(ASSIGNMENT) --force

collect: $(STAMP)
	$(BIN)/python -m course_lib.instructor collect $(ASSIGNMENT) $(FROM)

autograde: $(STAMP)
	$(BIN)/nbgrader autograde $(ASSIGNMENT) $(STUDENT_FLAG) --force

feedback: $(STAMP)
	$(BIN)/nbgrader generate_feedback $(ASSIGNMENT) $(STUDENT_FLAG) --force

grades: $(STAMP)
	$(BIN)/nbgrader export --to grades.csv

clean:
	rm -rf _build
