# postino - build, test and run.
#
#   make          build build/postino (optimised, with debug info)
#   make test     install what is missing, build with ASan+UBSan, run the
#                 unit tests, the end-to-end tests and short fuzz runs
#   make run      install what is missing, build, create ./var, serve
#
# Sources are found by convention: src/<component>/*.c is the program,
# *_test.c beside a module is its unit test, *_fuzz.c its libFuzzer target.

CC	?= cc
FUZZCC	?= clang
PKGS	= libevent libevent_openssl libevent_pthreads openssl sqlite3 \
	  libsodium libcares jansson zlib
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN	= -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wvla \
	  -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
BASE	= -std=c17 -D_GNU_SOURCE -Isrc -pthread $(WARN) $(PKG_CFLAGS)
CFLAGS	?= -O2 -g
SAN	= -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	  -fno-omit-frame-pointer
LIBS	= $(PKG_LIBS) -pthread -lm

ALL_C	= $(wildcard src/*/*.c)
TEST_C	= $(filter %_test.c,$(ALL_C))
FUZZ_C	= $(filter %_fuzz.c,$(ALL_C))
MAIN_C	= src/cli/main.c
LIB_C	= $(filter-out $(TEST_C) $(FUZZ_C) $(MAIN_C),$(ALL_C))

REL_O	= $(LIB_C:src/%.c=build/obj/%.o)
ASAN_O	= $(LIB_C:src/%.c=build/asan/obj/%.o)
FUZZ_O	= $(LIB_C:src/%.c=build/fuzz/obj/%.o)
TESTS	= $(TEST_C:src/%.c=build/asan/tests/%)
FUZZERS	= $(FUZZ_C:src/%.c=build/fuzz/%)

.PHONY: all test check unit e2e fuzz run deps clean asan bench
all: build/postino

build/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE) $(CFLAGS) -MMD -MP -c $< -o $@

build/asan/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE) -O1 -g $(SAN) -MMD -MP -c $< -o $@

build/fuzz/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(FUZZCC) $(BASE) -O1 -g -DPOSTINO_FUZZING \
	    -fsanitize=fuzzer-no-link,address,undefined -MMD -MP -c $< -o $@

build/libpostino.a: $(REL_O)
	rm -f $@ && ar rcs $@ $^
build/asan/libpostino.a: $(ASAN_O)
	rm -f $@ && ar rcs $@ $^
build/fuzz/libpostino.a: $(FUZZ_O)
	rm -f $@ && ar rcs $@ $^

build/postino: $(MAIN_C) build/libpostino.a
	$(CC) $(BASE) $(CFLAGS) -MMD -MP $< build/libpostino.a $(LIBS) -o $@

build/asan/postino: $(MAIN_C) build/asan/libpostino.a
	$(CC) $(BASE) -O1 -g $(SAN) $< build/asan/libpostino.a $(LIBS) -o $@

build/asan/tests/%: src/%.c tests/lib/test.c build/asan/libpostino.a
	@mkdir -p $(dir $@)
	$(CC) $(BASE) -O1 -g $(SAN) -MMD -MP $< tests/lib/test.c \
	    build/asan/libpostino.a $(LIBS) -o $@

build/fuzz/%: src/%.c build/fuzz/libpostino.a
	@mkdir -p $(dir $@)
	$(FUZZCC) $(BASE) -O1 -g -fsanitize=fuzzer,address,undefined \
	    $< build/fuzz/libpostino.a $(LIBS) -o $@

asan: build/asan/postino $(TESTS)

deps:
	@scripts/deps.sh test

# `make test` = install, then the whole check in a fresh make (so that
# pkg-config sees freshly installed packages).
test: deps
	@$(MAKE) --no-print-directory check

check: asan build/postino $(FUZZERS)
	@scripts/run-tests.sh

unit: $(TESTS)
	@scripts/run-tests.sh unit

e2e: build/asan/postino
	@scripts/run-tests.sh e2e

fuzz: $(FUZZERS)
	@scripts/run-tests.sh fuzz

run:
	@scripts/deps.sh run
	@$(MAKE) --no-print-directory all
	@scripts/run-demo.sh

bench: build/postino
	@echo "see bench/README.md: each benchmark is a script in bench/"

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
