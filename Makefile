# incidentd: one non-recursive GNU Makefile (conventions §3.10).
#   make            debug build of build/debug/incidentd
#   make run        install deps, build, create var/incidentd.db with demo data, serve :8080
#   make test       install deps, build under ASan+UBSan with -Werror, run every test
#   make release    optimised, hardened build in build/release
#   make bench      benchmark against nginx (see docs/benchmarks.md)
#   make format / format-check / lint / clean

CC      ?= cc
SANITIZE ?= 0
RELEASE ?= 0
WERROR  ?= 0
PKGS    := libmicrohttpd jansson sqlite3 libcrypto zlib

ifeq ($(SANITIZE),1)
BUILD   := build/asan
OPT     := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
LDOPT   := -fsanitize=address,undefined
WERROR  := 1
else ifeq ($(RELEASE),1)
BUILD   := build/release
OPT     := -O2 -g -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
LDOPT   := -pie -Wl,-z,relro,-z,now
else
BUILD   := build/debug
OPT     := -O0 -g
LDOPT   :=
endif

WARN    := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wmissing-declarations -Wpointer-arith -Wcast-qual -Wwrite-strings -Wvla \
           -Wformat=2 -Wundef -Wold-style-definition -Wimplicit-fallthrough -fno-common
ifeq ($(WERROR),1)
WARN    += -Werror
endif

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS  := -std=c17 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -MMD -MP $(OPT) $(WARN) \
           $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDFLAGS := $(LDOPT) $(EXTRA_LDFLAGS)
LDLIBS  := $(PKG_LIBS) -lpthread -lm

SRC      := $(sort $(wildcard src/*.c))
LIB_SRC  := $(filter-out src/main.c,$(SRC))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/schema_sqlite.o
TEST_SRC := $(sort $(wildcard tests/*.c))
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o)

BIN      := $(BUILD)/incidentd
TEST_BIN := $(BUILD)/check_incidentd

.PHONY: all deps run test check release bench format format-check lint clean demo-db

all: $(BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# A recipe that fails part way (embed-schema.sh writes through a redirection) must not leave a
# truncated target newer than its inputs.
.DELETE_ON_ERROR:

# The directory is a prerequisite too: removing a migration (a revert, a branch switch) changes
# its mtime but no remaining file's, and a stale build would keep migrating to the removed schema.
$(BUILD)/gen/schema_sqlite.c: $(wildcard schema/sqlite/*.sql) schema/sqlite scripts/embed-schema.sh
	@mkdir -p $(dir $@)
	./scripts/embed-schema.sh sqlite > $@

$(BUILD)/gen/%.o: $(BUILD)/gen/%.c
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libincidentd.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(BUILD)/src/main.o $(BUILD)/libincidentd.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Every tests/test_*.c defines `Suite *<name>_suite(void)`; the runner's list is generated so
# adding a test file needs no edit elsewhere.
$(BUILD)/tests/suites.inc: $(filter tests/test_%.c,$(TEST_SRC))
	@mkdir -p $(dir $@)
	@grep -ho '^Suite \*[a-z0-9_]*_suite(void)' $^ | sed 's/^Suite \*\(.*\)_suite(void)/SUITE(\1)/' > $@.tmp
	@cmp -s $@.tmp $@ 2>/dev/null || mv $@.tmp $@; rm -f $@.tmp

$(BUILD)/tests/check_main.o: $(BUILD)/tests/suites.inc
$(BUILD)/tests/check_main.o: CFLAGS += -I$(BUILD)/tests
# Suite constructors are found by the runner, not declared in a header.
$(BUILD)/tests/%.o: CFLAGS += -Isrc $(shell pkg-config --cflags check libcurl) -Wno-missing-prototypes -Wno-missing-declarations

$(TEST_BIN): $(TEST_OBJ) $(BUILD)/libincidentd.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs check libcurl)

deps:
	@./scripts/deps.sh

# `make test`: the whole suite under ASan+UBSan with -Werror; Check's summary is the last line.
test: deps
	@$(MAKE) --no-print-directory SANITIZE=1 build/asan/incidentd build/asan/check_incidentd
	@./scripts/run-tests.sh build/asan

check: test

release:
	@$(MAKE) --no-print-directory RELEASE=1 build/release/incidentd

RUN_DB   ?= var/incidentd.db
RUN_ADDR ?= 127.0.0.1:8080
run: deps
	@$(MAKE) --no-print-directory RELEASE=1 build/release/incidentd
	@./scripts/run.sh build/release/incidentd $(RUN_DB) $(RUN_ADDR)

bench:
	@./scripts/deps.sh --bench
	@$(MAKE) --no-print-directory RELEASE=1 build/release/incidentd
	@./bench/run.sh build/release/incidentd

# Alert ingestion (issue 5 point 9; docs/benchmarks.md). Also needs the sqlite3 shell.
.PHONY: bench-ingest
bench-ingest:
	@./scripts/deps.sh --bench
	@$(MAKE) --no-print-directory RELEASE=1 build/release/incidentd
	@./bench/ingest.sh build/release/incidentd

format:
	clang-format -i src/*.c src/*.h tests/*.c tests/*.h

format-check:
	clang-format --dry-run -Werror src/*.c src/*.h tests/*.c tests/*.h

lint:
	cppcheck --quiet --enable=warning --std=c11 --error-exitcode=1 src

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(BUILD)/src/main.d
