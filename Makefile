# omjob-operator — see README.md and BUILDING.md.
#   make            build/omjob-operator (musl, fully static, stripped)
#   make test       every test: warnings-as-errors build, cppcheck, unit tests under
#                   ASan/UBSan, the fake API server's tests, integration tests
#   make image      OCI image FROM scratch in build/image (no Docker daemon needed)
#   make bench      benchmarks → bench/RESULTS.md
.SUFFIXES:
SHELL := /bin/bash

VERSION := $(shell cat VERSION)
GIT_REV := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
PY      := /usr/bin/python3

VENDOR  := build/vendor
SRCS    := $(shell find src -name '*.c' | sort)
LIBSRCS := $(filter-out src/main.c,$(SRCS))
TSRCS   := $(shell find tests/unit -name '*.c' | sort)
HDRS    := $(shell find src tests/unit tests/fuzz -name '*.h')

# One strict warning set, errors everywhere (CI builds exactly this).
WARN := -std=c11 -Wall -Wextra -Wformat=2 -Wshadow -Wconversion -Wstrict-prototypes \
        -Wmissing-prototypes -Wpointer-arith -Wcast-qual -Wvla -Wundef -Wwrite-strings \
        -Wimplicit-fallthrough -Wnull-dereference -Werror
DEFS := -D_GNU_SOURCE -Ibuild/gen -Isrc
LIBS := -lcurl -lbearssl -lcjson -lyaml

# --- release: musl, static, stripped -------------------------------------------------
REL_CC     := musl-gcc
REL_CFLAGS := -Os -ffunction-sections -fdata-sections -fno-asynchronous-unwind-tables \
              -fno-ident -ffile-prefix-map=$(CURDIR)=. -DOMJ_BUILD_FLAVOR='"musl-static"'
REL_LDFLAGS := -static -s -Wl,--gc-sections -Wl,--build-id=none
REL_OBJS   := $(SRCS:%.c=build/musl/%.o)

all: build/omjob-operator

build/vendor/musl/.ok: vendor/deps.lock vendor/vendor.sh $(wildcard vendor/patches/*/*.patch)
	vendor/vendor.sh build musl && touch $@
build/vendor/glibc/.ok: vendor/deps.lock vendor/vendor.sh $(wildcard vendor/patches/*/*.patch)
	vendor/vendor.sh build glibc && touch $@

build/vendor/zoneinfo/.ok: vendor/deps.lock vendor/vendor.sh
	vendor/vendor.sh zoneinfo && touch $@

# The version string lives in build/gen/build_version.h, rewritten only when it changes, so a new
# commit rebuilds version.o (and nothing else).
build/gen/build_version.h: FORCE
	@mkdir -p $(@D)
	@printf '#define OMJ_VERSION "%s"\n' "$(VERSION)+$(GIT_REV)" > $@.tmp
	@cmp -s $@.tmp $@ && rm $@.tmp || mv $@.tmp $@
FORCE:
build/musl/src/version.o build/asan/src/version.o build/fuzz/src/version.o: build/gen/build_version.h

build/gen/deps.h: vendor/deps.lock
	@mkdir -p $(@D)
	@awk '!/^#/ && !/^@/ && NF==4 && !seen[$$1]++ { n=toupper($$1); printf "#define DEP_%s \"%s\"\n", n, $$2 }' $< > $@.tmp
	@awk '$$1=="@toolchain" && $$2=="musl-dev" { printf "#define DEP_LIBC_MUSL \"musl %s (Debian musl-dev)\"\n", $$3 }' $< >> $@.tmp
	@printf '#ifdef __GLIBC__\n#define DEP_LIBC "glibc (test build)"\n#else\n#define DEP_LIBC DEP_LIBC_MUSL\n#endif\n' >> $@.tmp
	@mv $@.tmp $@

build/musl/%.o: %.c $(HDRS) build/gen/deps.h build/vendor/musl/.ok
	@mkdir -p $(@D)
	@echo "  CC    $<"; $(REL_CC) $(WARN) $(DEFS) -isystem $(VENDOR)/musl/include $(REL_CFLAGS) -c $< -o $@

build/omjob-operator: $(REL_OBJS)
	$(REL_CC) $(REL_LDFLAGS) -o $@ $^ -L$(VENDOR)/musl/lib $(LIBS)
	@file $@ | grep -q 'statically linked' || { echo "$@ is not statically linked" >&2; exit 1; }
	@size=$$(stat -c %s $@); echo "build/omjob-operator: $$size bytes (stripped, static)"; \
	  [ $$size -lt 1048576 ] || { echo "binary exceeds 1 MiB" >&2; exit 1; }

# --- test build: glibc + AddressSanitizer + UBSan ------------------------------------
SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
T_CFLAGS := -O1 -g $(SAN) -DOMJ_BUILD_FLAVOR='"glibc-asan"' -Itests/unit
T_OBJS := $(LIBSRCS:%.c=build/asan/%.o) $(TSRCS:%.c=build/asan/%.o)

build/asan/%.o: %.c $(HDRS) build/gen/deps.h build/vendor/glibc/.ok
	@mkdir -p $(@D)
	@echo "  CC    $< (asan)"; gcc $(WARN) $(DEFS) -isystem $(VENDOR)/glibc/include $(T_CFLAGS) -c $< -o $@

build/asan/unit-tests: $(T_OBJS)
	gcc $(SAN) -o $@ $^ -L$(VENDOR)/glibc/lib $(LIBS)

build/asan/omjob-operator: $(SRCS:%.c=build/asan/%.o)
	gcc $(SAN) -o $@ $^ -L$(VENDOR)/glibc/lib $(LIBS)

unit: build/asan/unit-tests build/vendor/zoneinfo/.ok
	ZONEINFO=$(VENDOR)/zoneinfo ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  build/asan/unit-tests

lint: build/gen/deps.h build/gen/build_version.h build/vendor/musl/.ok
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability,performance \
	  --inline-suppr --std=c11 -D_GNU_SOURCE -D__GNUC__ -Isrc -Ibuild/gen \
	  -I$(VENDOR)/musl/include --suppress='*:$(VENDOR)/*' \
	  --suppress=missingIncludeSystem src/

fakeapi-test:
	$(PY) -m unittest discover -s tests/fakeapi -p 'test_*.py'

integration: build/omjob-operator build/asan/omjob-operator
	$(PY) -m unittest discover -s tests/integration -p 'test_*.py' -v

# --- fuzzing: clang libFuzzer + ASan + UBSan (tests/fuzz/README.md) ------------------
# build/fuzz/<target>: every src/ module (but main.c) in an archive, so a target may stub a
# module (fuzz_watch replaces the HTTP client); the archive is compiled with coverage
# (-fsanitize=fuzzer-no-link). `make fuzz` runs each target for FUZZ_SECONDS with the seeds
# from tests/fuzz/seeds.py; a crash or broken invariant is saved in
# tests/fuzz/regressions/<target>/ (commit it with the fix). `make fuzz-replay` (part of
# `make test`) runs every regression input and seed through gcc ASan builds of the targets:
# no clang needed there.
FUZZ_SECONDS ?= 10
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(filter-out tests/fuzz/fuzz_util.c,$(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_CC      := clang
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS  := -O1 -g $(FUZZ_SAN) -fsanitize=fuzzer-no-link -DOMJ_BUILD_FLAVOR='"glibc-fuzz"' -Itests/fuzz

build/fuzz/%.o: %.c $(HDRS) build/gen/deps.h build/vendor/glibc/.ok
	@mkdir -p $(@D)
	@echo "  CC    $< (fuzz)"; $(FUZZ_CC) $(filter-out -Wimplicit-fallthrough,$(WARN)) $(DEFS) -isystem $(VENDOR)/glibc/include $(FUZZ_CFLAGS) -c $< -o $@

build/fuzz/libomj.a: $(LIBSRCS:%.c=build/fuzz/%.o)
	@rm -f $@; ar rcs $@ $^

build/fuzz/fuzz_%: build/fuzz/tests/fuzz/fuzz_%.o build/fuzz/tests/fuzz/fuzz_util.o build/fuzz/libomj.a
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ -L$(VENDOR)/glibc/lib $(LIBS)

build/asan/libomj.a: $(LIBSRCS:%.c=build/asan/%.o)
	@rm -f $@; ar rcs $@ $^

build/asan/fuzz/replay_%: build/asan/tests/fuzz/fuzz_%.o build/asan/tests/fuzz/fuzz_util.o build/asan/tests/fuzz/replay.o build/asan/libomj.a
	@mkdir -p $(@D)
	gcc $(SAN) -o $@ $^ -L$(VENDOR)/glibc/lib $(LIBS)

build/fuzz/seeds/.ok: tests/fuzz/seeds.py $(wildcard tests/unit/data/*/*) $(wildcard ../shared/k8s-wire/*.txt ../../shared/k8s-wire/*.txt)
	$(PY) tests/fuzz/seeds.py build/fuzz/seeds && touch $@

fuzz-build: $(FUZZ_TARGETS:%=build/fuzz/fuzz_%) build/fuzz/seeds/.ok

# One target at a time (the machine is shared), each for FUZZ_SECONDS (FUZZ_ONLY="cron tz"
# picks some); one line per run (executions, rate, result) is appended to build/fuzz/runs.log.
fuzz: fuzz-build
	@failed=; for t in $(or $(FUZZ_ONLY),$(FUZZ_TARGETS)); do \
	  mkdir -p build/fuzz/corpus/$$t tests/fuzz/regressions/$$t build/fuzz/seeds/$$t; \
	  echo "== fuzz_$$t for $(FUZZ_SECONDS) s"; \
	  if ZONEINFO=$(VENDOR)/zoneinfo nice build/fuzz/fuzz_$$t \
	    -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 \
	    -artifact_prefix=tests/fuzz/regressions/$$t/ build/fuzz/corpus/$$t build/fuzz/seeds/$$t \
	    2> build/fuzz/$$t.log; then result=ok; else result=FAILED; failed="$$failed $$t"; \
	    grep -aE 'invariant failed|ERROR:|runtime error|SUMMARY' build/fuzz/$$t.log | head -5; fi; \
	  execs=$$(sed -n 's/^stat::number_of_executed_units: *//p' build/fuzz/$$t.log); \
	  rate=$$(sed -n 's/^stat::average_exec_per_sec: *//p' build/fuzz/$$t.log); \
	  echo "$$(date -u +%FT%TZ) fuzz_$$t seconds=$(FUZZ_SECONDS) execs=$$execs execs_per_s=$$rate $$result" | tee -a build/fuzz/runs.log; \
	done; [ -z "$$failed" ] || { echo "fuzz: failed:$$failed (inputs in tests/fuzz/regressions/)"; exit 1; }

fuzz-replay: $(FUZZ_TARGETS:%=build/asan/fuzz/replay_%) build/fuzz/seeds/.ok build/vendor/zoneinfo/.ok
	@set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p tests/fuzz/regressions/$$t build/fuzz/seeds/$$t; \
	  ZONEINFO=$(VENDOR)/zoneinfo ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    build/asan/fuzz/replay_$$t tests/fuzz/regressions/$$t build/fuzz/seeds/$$t; \
	done

.PRECIOUS: build/fuzz/%.o build/asan/%.o
.PHONY: fuzz fuzz-build fuzz-replay

# Soak (tests/integration/test_soak.py): the short version runs in make integration; this is
# the long one. SOAK_JOBS OMJobs, a SIGKILL per 50 of them, the fake restarted now and then
# (ASan build); then SOAK_SECONDS of steady churn at SOAK_RATE OMJobs/s through one release
# operator, its RSS sampled ten times into bench/soak-rss.json (shown in bench/RESULTS.md).
# SOAK_SECONDS=0 skips the churn.
SOAK_JOBS ?= 2000
SOAK_SECONDS ?= 3600
SOAK_RATE ?= 2
soak: build/asan/omjob-operator build/omjob-operator
	OMJ_SOAK_JOBS=$(SOAK_JOBS) $(PY) -m unittest discover -s tests/integration -p test_soak.py -v
	[ "$(SOAK_SECONDS)" = 0 ] || OMJ_SOAK_SECONDS=$(SOAK_SECONDS) OMJ_SOAK_RATE=$(SOAK_RATE) \
	  OMJ_OPERATOR=$(CURDIR)/build/omjob-operator OMJ_SOAK_RSS_OUT=$(CURDIR)/bench/soak-rss.json \
	  $(PY) -m unittest discover -s tests/integration -p test_soak.py -v

.PHONY: soak

# The one command README and .ci/run use.
test: all lint unit fuzz-replay image helm-check fakeapi-test integration
	@echo "make test: all test stages passed"

# --- Helm chart and plain manifests --------------------------------------------------
# manifests: chart crds/ := crds/, deploy/manifests/ := helm template of the chart's defaults.
# helm-check: helm lint/template over the value combinations, rendered-object and drift checks.
manifests:
	@[ -x build/tools/bin/helm ] || tests/tools/install-k8s-clients.sh
	deploy/helm/render.sh

helm-check:
	tests/helm/check.sh

.PHONY: manifests helm-check

# --- image ---------------------------------------------------------------------------
image: build/omjob-operator
	deploy/image/mkimage.sh build/omjob-operator build/image

bench: build/omjob-operator image
	bench/run.sh

format:
	clang-format -i $(SRCS) $(HDRS) $(TSRCS)

clean:
	rm -rf build/musl build/asan build/fuzz build/gen build/image build/omjob-operator
distclean:
	rm -rf build

.PHONY: FORCE all unit lint fakeapi-test integration test image bench format clean distclean
