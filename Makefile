# ngx_http_gateway_module
#
#   make            build build/ngx_http_gateway_module.so
#   make run        install what is missing, build, run the example gateway
#   make test       install what is missing, build, run every test
#   make unit       Check unit tests of the core
#   make test-asan  the suites again with AddressSanitizer and UBSan
#   make test-cpan TEST_NGINX_LIB=DIR  the suites under CPAN's Test::Nginx,
#                   DIR being a checkout of openresty/test-nginx
#   make bench      wrk benchmarks, as ratios to plain nginx proxy_pass
#   make soak       minutes of load through reloads, kills and outages
#   make fuzz       libFuzzer targets in fuzz/, FUZZ_SECONDS each
#
# NGINX_SRC=/path/to/nginx-x.y.z builds against another nginx source tree.

NGINX_SRC  ?= /usr/share/nginx/src
NGINX_BIN  ?= /usr/sbin/nginx
BUILD      ?= build
SANITIZE   ?=

CXX        ?= g++
CC         ?= gcc

ifneq ($(SANITIZE),)
SAN_FLAGS  := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif

CORE_CXXFLAGS := -std=c++20 -O2 -g -fPIC -fvisibility=hidden \
                 -Wall -Wextra -Werror $(SAN_FLAGS)
CORE_INC      := -Isrc/core/include

CORE_SRCS  := $(wildcard src/core/*.cpp)
CORE_OBJS  := $(CORE_SRCS:src/core/%.cpp=$(BUILD)/core/%.o)
CORE_LIB   := $(BUILD)/libgateway_core.a
MODULE     := $(BUILD)/ngx_http_gateway_module.so
NGX_TREE   := $(BUILD)/nginx
NGX_GLUE   := $(wildcard src/nginx/*/*.c src/nginx/*/*.h src/core/include/*.h)
# nginx's configure lists the glue files it compiles: run it again when a
# file is added or removed (the list is rewritten only when it changes)
GLUE_LIST  := $(BUILD)/glue-files
$(shell mkdir -p $(BUILD); echo '$(sort $(NGX_GLUE))' | cmp -s - $(GLUE_LIST) \
    || echo '$(sort $(NGX_GLUE))' > $(GLUE_LIST))

FUZZ_SRCS  := $(wildcard fuzz/*.cpp)
FUZZ_BINS  := $(FUZZ_SRCS:fuzz/%.cpp=$(BUILD)/fuzz/%)
FUZZ_SECONDS ?= 20

UNIT_SRCS  := $(wildcard t/unit/check_*.c)
UNIT_BINS  := $(UNIT_SRCS:t/unit/%.c=$(BUILD)/unit/%)

BUILD_DEPS := nginx nginx-dev libssl-dev libhiredis-dev \
              libpcre2-dev zlib1g-dev g++ make pkg-config
# libnginx-mod-stream: the runner's self-test (t/runner/) loads the stream
# module; openssl: t/JwtMint.pm signs test tokens with its command line tool;
# prometheus: promtool checks the metrics output; python3, python3-protobuf,
# protobuf-compiler: the OTLP receiver double and its independent checks;
# python3 also runs the Consul API double (t/consul/)
TEST_DEPS  := check libtest-base-perl libtext-diff-perl redis-server \
              libnginx-mod-stream openssl prometheus \
              python3 python3-protobuf protobuf-compiler
# what CPAN's Test::Nginx::Socket needs (HTTP::Response included)
CPAN_DEPS  := libtest-base-perl libtext-diff-perl libtest-longstring-perl \
              liblist-moreutils-perl libhttp-message-perl
# make run: openssl makes the demo's key and tokens, curl is what it prints
RUN_DEPS   := openssl curl
BENCH_DEPS := wrk redis-server valgrind curl python3
SOAK_DEPS  := wrk redis-server curl gdb openssl python3
# cases bench/ratelimit, bench/cache and bench/trace-export run themselves,
# with the Redis, file server or collector they start
BENCH_CASES = $(filter-out baseline limit_req ratelimit_% cache_% \
                proxy_cache_% big_proxy trace_export_%,\
                $(basename $(notdir $(wildcard bench/cases/*.conf))))
FUZZ_DEPS  := clang libclang-rt-14-dev

# Test::Nginx from CPAN when it is installed, else the runner in t/lib.
PROVE_INC   = $(shell perl -MTest::Nginx::Socket -e1 2>/dev/null || echo -I t/lib)
# A busy machine, or the sanitizers, can take longer to answer than
# Test::Nginx's default 3 s; a block about a timeout sets its own.
TEST_NGINX_TIMEOUT ?= 10
export TEST_NGINX_TIMEOUT
TEST_ENV    = TEST_NGINX_BINARY=$(NGINX_BIN) \
              TEST_NGINX_LOAD_MODULES=$(abspath $(MODULE))

.PHONY: all deps test-deps run test unit unit-bins fuzz t runner-selftest test-asan test-cpan bench soak clean

all: $(MODULE)

deps:
	@scripts/install-deps $(BUILD_DEPS)

test-deps: deps
	@scripts/install-deps $(TEST_DEPS)

$(BUILD)/core/%.o: src/core/%.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CORE_CXXFLAGS) $(CORE_INC) -MMD -MP -c $< -o $@

-include $(CORE_OBJS:.o=.d)

$(CORE_LIB): $(CORE_OBJS)
	rm -f $@
	ar rcs $@ $^

$(NGX_TREE)/objs/Makefile: config scripts/configure-nginx $(GLUE_LIST)
	GATEWAY_CORE_LIB=$(abspath $(CORE_LIB)) \
	    scripts/configure-nginx $(NGINX_SRC) $(NGX_TREE) $(CURDIR) \
	    "$(SAN_FLAGS)" "$(SAN_FLAGS)"

$(MODULE): $(CORE_LIB) $(NGX_TREE)/objs/Makefile $(NGX_GLUE)
	rm -f $(NGX_TREE)/objs/ngx_http_gateway_module.so
	$(MAKE) -C $(NGX_TREE) -f objs/Makefile modules
	cp $(NGX_TREE)/objs/ngx_http_gateway_module.so $@

# One Check suite per executable, so suites are added without shared edits.
$(BUILD)/unit/%: t/unit/%.c $(wildcard t/unit/*.h) $(CORE_LIB)
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O1 -g -Wall -Wextra -Werror $(SAN_FLAGS) $(CORE_INC) \
	    $< $(CORE_LIB) $$(pkg-config --cflags --libs check) \
	    -lssl -lcrypto -lstdc++ -o $@

unit-bins: $(UNIT_BINS)

unit: test-deps
	$(MAKE) unit-bins
	@set -e; for t in $(UNIT_BINS); do $$t; done

t: test-deps $(MODULE)
	$(TEST_ENV) prove $(PROVE_INC) t/ t/runner/

runner-selftest: test-deps
	prove -I t/lib t/runner/

test: test-deps
	$(MAKE) unit
	$(MAKE) t
	$(MAKE) test-asan
	$(MAKE) fuzz FUZZ_SECONDS=10

# The suites under CPAN's Test::Nginx from a checkout (its code stays there),
# then the runner self-test, which checks that both runners evaluate the
# blocks' sections at the same moment.
TEST_NGINX_LIB ?=

test-cpan: test-deps
	@if [ ! -f "$(TEST_NGINX_LIB)/lib/Test/Nginx/Socket.pm" ]; then \
	    echo "TEST_NGINX_LIB must name a checkout of openresty/test-nginx"; \
	    exit 1; \
	fi
	@scripts/install-deps $(CPAN_DEPS)
	$(MAKE) $(MODULE)
	$(TEST_ENV) PERL5LIB=$(abspath $(TEST_NGINX_LIB))/lib prove t/
	TEST_NGINX_LIB=$(abspath $(TEST_NGINX_LIB)) prove -I t/lib t/runner/

# A module built with sanitizers runs inside the distribution's nginx, so the
# sanitizer runtime is preloaded into nginx (through a wrapper binary).
test-asan: test-deps
	$(MAKE) BUILD=$(BUILD)/asan SANITIZE=address,undefined all unit-bins
	@set -e; for t in $(UNIT_BINS:$(BUILD)/%=$(BUILD)/asan/%); do $$t; done
	rm -rf $(BUILD)/asan/reports && mkdir -p $(BUILD)/asan/reports
	@# workers of suites that run their own nginx are "nobody": they report too
	chmod 1777 $(BUILD)/asan/reports
	GATEWAY_ASAN_LOG=$(abspath $(BUILD)/asan/reports/nginx) \
	    TEST_NGINX_BINARY=$(abspath scripts/nginx-asan) \
	    TEST_NGINX_LOAD_MODULES=$(abspath $(BUILD)/asan/ngx_http_gateway_module.so) \
	    prove $(PROVE_INC) t/
	@if [ -n "$$(ls $(BUILD)/asan/reports)" ]; then \
	    cat $(BUILD)/asan/reports/*; echo "sanitizer reports above"; exit 1; \
	fi

# Fuzz targets link the core, built once by clang with coverage for
# libFuzzer and with ASan and UBSan, into one binary per target.
FUZZ_CXXFLAGS := -std=c++20 -g -O1 $(CORE_INC) -Isrc/core
FUZZ_CORE_OBJS := $(CORE_SRCS:src/core/%.cpp=$(BUILD)/fuzz/core/%.o)
FUZZ_CORE_LIB  := $(BUILD)/fuzz/libgateway_core.a

$(BUILD)/fuzz/core/%.o: src/core/%.cpp
	@mkdir -p $(dir $@)
	clang++ $(FUZZ_CXXFLAGS) -fsanitize=fuzzer-no-link,address,undefined \
	    -MMD -MP -c $< -o $@

-include $(FUZZ_CORE_OBJS:.o=.d)

$(FUZZ_CORE_LIB): $(FUZZ_CORE_OBJS)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/fuzz/%: fuzz/%.cpp $(FUZZ_CORE_LIB)
	@mkdir -p $(dir $@)
	clang++ $(FUZZ_CXXFLAGS) -fsanitize=fuzzer,address,undefined -MMD -MP \
	    $< $(FUZZ_CORE_LIB) -lssl -lcrypto -o $@

-include $(FUZZ_BINS:=.d)

fuzz: test-deps
	@scripts/install-deps $(FUZZ_DEPS)
	$(MAKE) $(FUZZ_BINS)
	@set -e; for f in $(FUZZ_BINS); do \
	    name=$$(basename $$f); \
	    mkdir -p $(BUILD)/fuzz/corpus/$$name; \
	    echo "fuzzing $$name for $(FUZZ_SECONDS)s"; \
	    $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	        $(BUILD)/fuzz/corpus/$$name fuzz/seeds/$$name \
	        > $(BUILD)/fuzz/$$name.log 2>&1 \
	        || { tail -n 40 $(BUILD)/fuzz/$$name.log; exit 1; }; \
	    grep -E '^stat::number_of_executed_units' $(BUILD)/fuzz/$$name.log; \
	done

run: deps $(MODULE)
	@scripts/install-deps $(RUN_DEPS)
	scripts/run-example $(NGINX_BIN) $(abspath $(MODULE))

bench: deps
	@scripts/install-deps $(BENCH_DEPS)
	$(MAKE) $(MODULE)
	bench/run $(NGINX_BIN) $(abspath $(MODULE)) $(BENCH_CASES)
	bench/ratelimit $(NGINX_BIN) $(abspath $(MODULE))
	bench/cache $(NGINX_BIN) $(abspath $(MODULE))
	bench/jwt-verify-speed
	bench/breaker-recovery $(NGINX_BIN) $(abspath $(MODULE))
	bench/trace-export $(NGINX_BIN) $(abspath $(MODULE))
	bench/metrics-scrape $(NGINX_BIN) $(abspath $(MODULE))
	bench/consul $(NGINX_BIN) $(abspath $(MODULE))
	BENCH_MODE=instructions bench/consul $(NGINX_BIN) $(abspath $(MODULE))

# not part of "make test": minutes long, and it kills processes on purpose
soak: deps
	@scripts/install-deps $(SOAK_DEPS)
	$(MAKE) $(MODULE)
	bench/soak/run $(NGINX_BIN) $(abspath $(MODULE))

clean:
	rm -rf $(BUILD) t/servroot
