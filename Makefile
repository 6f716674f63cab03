# pvio top-level Makefile.
#
#   make            userspace: pviod, pvioctl, libpvio-front, tests, benchmarks
#   make modules    guest kernel modules against KDIR (W=1, sparse C=1)
#   make check      install deps, build everything, run every test
#   make demo       install deps, build, start pviod, boot a guest, show it
#   make bench-ring ring benchmark against DPDK rte_ring
#   make bench-native-blk / bench-native-net / bench-notify
#                   native benchmarks of the backend and the ring (userspace/bench/)
#   make check-debug-kernel
#                   the VM tests on a KASAN/lockdep/kmemleak guest kernel (long)
#
# Build outputs go to build/ only.  One line per step ("CC build/pviod");
# V=1 shows the commands.

O		?= build
V		?= 0
ifeq ($(V),1)
Q		:=
msg		=
else ifneq ($(findstring s,$(firstword -$(MAKEFLAGS))),)
Q		:= @
msg		=
else
Q		:= @
msg		= @printf '  %-7s %s\n' '$(1)' '$(2)'
endif
CC		?= gcc
NPROC		:= $(shell nproc 2>/dev/null || echo 1)
CFLAGS		?= -O2 -g
WARN		:= -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes
BASE_CFLAGS	:= -std=c11 -D_GNU_SOURCE $(WARN) -Iinclude -isystem $(O)/ksrc/tools/testing/selftests
SAN_CFLAGS	:= -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
		   -fno-sanitize-recover=all
TSAN_CFLAGS	:= -O1 -g -fsanitize=thread -Wno-tsan

KDIR		?= $(firstword $(shell ls -d /lib/modules/*/build 2>/dev/null | grep -v -- '-rt-' | sort -V -r) \
			       $(shell ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | grep -v -- '-rt-' | sort -V -r))
KDIR_RT		?= $(firstword $(shell ls -d /usr/src/linux-headers-*-rt-amd64 2>/dev/null | sort -V -r))

DPDK_CFLAGS	:= $(shell pkg-config --cflags libdpdk 2>/dev/null)
DPDK_LIBS	:= $(shell pkg-config --libs libdpdk 2>/dev/null)

RING_HDRS	:= $(wildcard include/pvio/*.h)
HARNESS		:= $(O)/ksrc/.extracted

DPDK_NET_SRCS	:= $(wildcard backend/net/dpdk*.c)
PVIOD_SRCS	:= $(filter-out $(DPDK_NET_SRCS),$(wildcard backend/*/*.c))
PVIOD_HDRS	:= $(wildcard backend/*/*.h) $(RING_HDRS)
PVIOD_LIBS	:= -luring -lseccomp -ljson-c -lsystemd -lmicrohttpd -linih
# net = dpdk (backend/net/dpdk*.c): built against DPDK when pkg-config has it,
# else a stub that rejects the key (net/dpdk.c; the other files compile to
# nothing).  Their own objects: DPDK's flags and the warnings its headers
# need stay out of the rest of pviod.
ifneq ($(DPDK_LIBS),)
DPDK_NET_CFLAGS	:= -DPVIO_HAVE_DPDK $(DPDK_CFLAGS) -Wno-cast-qual -Wno-pedantic
PVIOD_LIBS	+= $(DPDK_LIBS)
endif

FRONT_SRCS	:= userspace/libpvio-front/pvio_front.c
FRONT_HDRS	:= userspace/libpvio-front/pvio_front.h

# The backend tests (tests/backend/*_test.c), built by one rule below.
BACKEND_TESTS	:= $(patsubst %,$(O)/tests/%_test,backend net net_offload net_null blk blk_inflight \
		     balloon isolation isolation_sandbox isolation_guests threads metrics upgrade migrate)
TEST_BINS	:= $(BACKEND_TESTS) $(O)/tests/hostpolicy_test $(O)/tests/ring_test $(O)/tests/ring_test_san \
		   $(O)/tests/ring_stress $(O)/tests/ring_stress_tsan $(O)/tests/fault_campaign
BENCH_BINS	:= $(if $(DPDK_LIBS),$(O)/bench/ring_bench) $(O)/bench/blk_bench $(O)/bench/notify_bench \
		   $(O)/bench/net_bench $(O)/bench/net_gen $(O)/bench/iso_bench
BENCH_CFLAGS	:= $(BASE_CFLAGS) -O2 -g -Iuserspace/libpvio-front -Iuserspace/bench/common

.PHONY: install install-dkms deb all deps modules modules-rt modules-debug check-debug-kernel check lint lint-checkpatch lint-shell demo bench-ring bench-native-blk bench-native-net bench-notify bench-isolation bench-memory bench fuzz fuzz-build fuzz-targets check-faults clean

all: $(O)/pviod $(O)/pviod-san $(O)/pviod-tsan $(O)/pvioctl $(O)/vm/transport_test $(O)/vm/pvnet_xfer $(O)/vm/pvbal_mem $(O)/libpvio-front.a $(TEST_BINS) $(BENCH_BINS)

deps:
	@tools/deps.sh

$(HARNESS):
	@tools/extract-ksrc.sh $(O)/ksrc

# ---- backend -------------------------------------------------------------------

DPDK_NET_OBJS		:= $(patsubst backend/%.c,$(O)/obj/backend/%.o,$(DPDK_NET_SRCS))
DPDK_NET_SAN_OBJS	:= $(patsubst backend/%.c,$(O)/obj/backend/%-san.o,$(DPDK_NET_SRCS))
DPDK_NET_TSAN_OBJS	:= $(patsubst backend/%.c,$(O)/obj/backend/%-tsan.o,$(DPDK_NET_SRCS))

$(DPDK_NET_OBJS): $(O)/obj/backend/%.o: backend/%.c $(PVIOD_HDRS)
	@mkdir -p $(dir $@)
	$(call msg,CC,$@)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $(DPDK_NET_CFLAGS) -Ibackend -c -o $@ $<

$(DPDK_NET_SAN_OBJS): $(O)/obj/backend/%-san.o: backend/%.c $(PVIOD_HDRS)
	@mkdir -p $(dir $@)
	$(call msg,CC,$@)
	$(Q)$(CC) $(BASE_CFLAGS) $(SAN_CFLAGS) $(DPDK_NET_CFLAGS) -Ibackend -c -o $@ $<

$(DPDK_NET_TSAN_OBJS): $(O)/obj/backend/%-tsan.o: backend/%.c $(PVIOD_HDRS)
	@mkdir -p $(dir $@)
	$(call msg,CC,$@)
	$(Q)$(CC) $(BASE_CFLAGS) $(TSAN_CFLAGS) $(DPDK_NET_CFLAGS) -Ibackend -c -o $@ $<

# Link-time optimisation: the data path crosses queue.c, memtable.c and the
# class files once per request; -flto lets gcc inline across them (about
# +5-10% packets/s in make bench-native-net).  Not for the sanitizer build.
$(O)/pviod: $(PVIOD_SRCS) $(PVIOD_HDRS) $(DPDK_NET_OBJS)
	@mkdir -p $(dir $@)
	$(call msg,CC,$@)
	$(Q)$(CC) $(BASE_CFLAGS) $(CPPFLAGS) $(CFLAGS) -flto=auto -Ibackend $(LDFLAGS) -o $@ $(PVIOD_SRCS) $(DPDK_NET_OBJS) $(PVIOD_LIBS)

# The same daemon under ASan/UBSan: the backend tests run this one.  It
# also answers `test-escape` (control.c), which shows what a worker taken
# over by its guest could still reach; the production build has no such
# request.
$(O)/pviod-san: $(PVIOD_SRCS) $(PVIOD_HDRS) $(DPDK_NET_SAN_OBJS)
	@mkdir -p $(dir $@)
	$(call msg,CC,$@)
	$(Q)$(CC) $(BASE_CFLAGS) $(SAN_CFLAGS) -DPVBE_TEST_HOOKS -Ibackend -o $@ $(PVIOD_SRCS) $(DPDK_NET_SAN_OBJS) $(PVIOD_LIBS)

# And under TSan, for a worker with several threads (threads_test).
$(O)/pviod-tsan: $(PVIOD_SRCS) $(PVIOD_HDRS) $(DPDK_NET_TSAN_OBJS)
	@mkdir -p $(dir $@)
	$(call msg,CC,$@)
	$(Q)$(CC) $(BASE_CFLAGS) $(TSAN_CFLAGS) -DPVBE_TEST_HOOKS -Ibackend -o $@ $(PVIOD_SRCS) $(DPDK_NET_TSAN_OBJS) $(PVIOD_LIBS)

# pvioctl metrics renders the answer as pviod's endpoint does (core/metrics.c).
$(O)/pvioctl: userspace/pvioctl/pvioctl.c backend/core/metrics.c backend/core/metrics.h
	@mkdir -p $(dir $@)
	$(call msg,CC,$@)
	$(Q)$(CC) $(BASE_CFLAGS) $(CPPFLAGS) $(CFLAGS) -Ibackend $(LDFLAGS) -o $@ userspace/pvioctl/pvioctl.c backend/core/metrics.c -ljson-c

# ---- guest test programs: static, they run in the initramfs ------------------

$(O)/vm/transport_test: tests/vm/guest/transport_test.c $(HARNESS)
	@mkdir -p $(dir $@)
	$(call msg,CC,$@)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -static -pthread -o $@ $<

$(O)/vm/pvnet_xfer: tests/vm/guest/pvnet_xfer.c
	@mkdir -p $(dir $@)
	$(call msg,CC,$@)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -static -o $@ $<

$(O)/vm/pvbal_mem: tests/vm/guest/pvbal_mem.c
	@mkdir -p $(dir $@)
	$(call msg,CC,$@)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -static -o $@ $<

# ---- libpvio-front and the backend tests ------------------------------------

$(O)/libpvio-front.a: $(FRONT_SRCS) $(FRONT_HDRS) $(RING_HDRS)
	@mkdir -p $(O)/obj
	$(call msg,CC,$(O)/obj/pvio_front.o)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -c -o $(O)/obj/pvio_front.o $(FRONT_SRCS)
	$(call msg,AR,$@)
	$(Q)ar rcs $@ $(O)/obj/pvio_front.o

# The kill and stall campaign: main() and the campaign, the classes'
# verified traffic, the guests' threads.
FAULT_SRCS	:= tests/faults/fault_campaign.c tests/faults/fault_classes.c tests/faults/fault_guest.c

$(O)/tests/fault_campaign: $(FAULT_SRCS) tests/faults/fault_campaign.h tests/backend/test_util.c tests/backend/test_util.h $(FRONT_SRCS) $(FRONT_HDRS) $(RING_HDRS)
	@mkdir -p $(dir $@)
	$(call msg,CC,$@)
	$(Q)$(CC) $(BASE_CFLAGS) -O2 -g -Iuserspace/libpvio-front -Itests/backend -o $@ $(FAULT_SRCS) tests/backend/test_util.c $(FRONT_SRCS) -lpthread -lm

# The backend tests (tests/backend/*_test.c): libpvio-front against
# pviod-san, under ASan/UBSan themselves.  The binaries of one subject
# share its fixture header (net_fixture.h, blk_fixture.h,
# isolation_fixture.h).
BACKEND_HDRS	:= tests/backend/test_util.h $(wildcard tests/backend/*_fixture.h)

$(BACKEND_TESTS): $(O)/tests/%_test: tests/backend/%_test.c tests/backend/test_util.c $(BACKEND_HDRS) $(FRONT_SRCS) $(FRONT_HDRS) $(RING_HDRS) $(HARNESS)
	@mkdir -p $(dir $@)
	$(call msg,CC,$@)
	$(Q)$(CC) $(BASE_CFLAGS) $(SAN_CFLAGS) -Iuserspace/libpvio-front -o $@ $< tests/backend/test_util.c $(FRONT_SRCS) -ljson-c -lpthread

# A unit of pviod on its own: the host-wide memory policy, from its inputs.
$(O)/tests/hostpolicy_test: tests/backend/hostpolicy_test.c backend/balloon/hostpolicy.c backend/balloon/hostpolicy.h $(HARNESS)
	@mkdir -p $(dir $@)
	$(call msg,CC,$@)
	$(Q)$(CC) $(BASE_CFLAGS) $(SAN_CFLAGS) -Ibackend -DPVIO_TEST_DATA='"$(CURDIR)/tests/backend/data"' \
		-o $@ $< backend/balloon/hostpolicy.c

# ---- fuzzing: libFuzzer targets over pviod's real code (tests/fuzz) ---------
#
# The backend built with clang, ASan and UBSan, without main() and without
# DPDK (its stub), linked into one binary per target.

FUZZ_CC		?= clang
FUZZ_CFLAGS	:= -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
		   -Wno-missing-field-initializers -Iinclude -Ibackend -Itests/fuzz -O1 -g \
		   -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_TARGETS	:= echo net blk balloon control config ext
FUZZ_LIB_SRCS	:= $(filter-out backend/core/pviod.c,$(wildcard backend/*/*.c))
FUZZ_LIB_OBJS	:= $(patsubst backend/%.c,$(O)/fuzz/obj/%.o,$(FUZZ_LIB_SRCS))
FUZZ_BINS	:= $(patsubst %,$(O)/fuzz/fuzz_%,$(FUZZ_TARGETS))

$(FUZZ_LIB_OBJS): $(O)/fuzz/obj/%.o: backend/%.c $(PVIOD_HDRS)
	@mkdir -p $(dir $@)
	$(call msg,CLANG,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(O)/fuzz/obj/harness.o: tests/fuzz/harness.c tests/fuzz/harness.h $(PVIOD_HDRS)
	@mkdir -p $(dir $@)
	$(call msg,CLANG,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(O)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(O)/fuzz/obj/harness.o $(FUZZ_LIB_OBJS)
	@mkdir -p $(dir $@)
	$(call msg,CLANG,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< \
		$(if $(filter $@,$(O)/fuzz/fuzz_config $(O)/fuzz/fuzz_ext),,$(O)/fuzz/obj/harness.o) \
		$(FUZZ_LIB_OBJS) -luring -lseccomp -ljson-c -lsystemd -lmicrohttpd -linih -lpthread

fuzz-build: $(FUZZ_BINS)

fuzz-targets:
	@echo $(FUZZ_TARGETS)

# Every target for FUZZ_SECONDS (default 60) from the seed corpus; the
# corpus grows under $(O)/fuzz/corpus.  make check runs each for 20 s.
fuzz: fuzz-build
	@O=$(O) FUZZ_SECONDS=$(or $(FUZZ_SECONDS),60) tests/fuzz/run.sh $(FUZZ_TARGETS)

# ---- the kill and stall campaign (tests/faults) ------------------------------
#
# 200 SIGKILLs of each guest's worker under verified I/O (during I/O, a
# reset, a set-up, a takeover), then 100 SIGSTOPs of 1-40 s of every
# guest's worker at once (FAULT_KILLS, FAULT_STALLS, FAULT_STALL_MIN_MS,
# FAULT_STALL_MAX_MS); then 201 planned kills of a real guest's worker
# (VM_KILLS; tests/vm/kills.sh); make check runs 20 kills and 10 stalls
# of 0.2-2 s, and 9 in the guest.  About 30 minutes on this 2-core
# machine (kills 7, stalls 18, guest 5).

check-faults: deps
	@$(MAKE) --no-print-directory -j$(NPROC) all
	@$(MAKE) --no-print-directory modules
	@O=$(O) PVIO_TESTS=faults PVIO_PROGRESS=1 VM_KILLS=$(or $(VM_KILLS),201) \
		VM_STALLS=$(or $(VM_STALLS),20) VM_STALL_MIN_MS=$(or $(VM_STALL_MIN_MS),1000) \
		VM_STALL_MAX_MS=$(or $(VM_STALL_MAX_MS),40000) \
		FAULT_KILLS=$(or $(FAULT_KILLS),200) \
		FAULT_STALLS=$(or $(FAULT_STALLS),100) \
		FAULT_STALL_MIN_MS=$(or $(FAULT_STALL_MIN_MS),1000) \
		FAULT_STALL_MAX_MS=$(or $(FAULT_STALL_MAX_MS),40000) tests/run.sh

# ---- ring tests ------------------------------------------------------------

$(O)/tests/ring_test: tests/ring/ring_test.c $(RING_HDRS) $(HARNESS)
	@mkdir -p $(dir $@)
	$(call msg,CC,$@)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $< -lpthread

$(O)/tests/ring_test_san: tests/ring/ring_test.c $(RING_HDRS) $(HARNESS)
	@mkdir -p $(dir $@)
	$(call msg,CC,$@)
	$(Q)$(CC) $(BASE_CFLAGS) $(SAN_CFLAGS) -o $@ $< -lpthread

$(O)/tests/ring_stress: tests/ring/ring_stress.c $(RING_HDRS) $(HARNESS)
	@mkdir -p $(dir $@)
	$(call msg,CC,$@)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $< -lpthread

$(O)/tests/ring_stress_tsan: tests/ring/ring_stress.c $(RING_HDRS) $(HARNESS)
	@mkdir -p $(dir $@)
	$(call msg,CC,$@)
	$(Q)$(CC) $(BASE_CFLAGS) $(TSAN_CFLAGS) -o $@ $< -lpthread

# ---- benchmarks --------------------------------------------------------------

$(O)/bench/ring_bench: userspace/bench/ring/ring_bench.c $(RING_HDRS)
	@mkdir -p $(dir $@)
	$(call msg,CC,$@)
	$(Q)$(CC) $(BASE_CFLAGS) -O3 -g -march=native -Wno-unused-parameter $(DPDK_CFLAGS) \
		-o $@ $< $(DPDK_LIBS) -lpthread

bench-ring: $(O)/bench/ring_bench
	userspace/bench/ring/run.sh $(O)/bench/ring_bench

# Native benchmarks (not part of make check): libpvio-front as the guest.
$(O)/bench/blk_bench: userspace/bench/native-blk/blk_bench.c userspace/bench/common/bench_util.h $(FRONT_SRCS) $(FRONT_HDRS) $(RING_HDRS)
	@mkdir -p $(dir $@)
	$(call msg,CC,$@)
	$(Q)$(CC) $(BENCH_CFLAGS) -o $@ $< $(FRONT_SRCS) -lpthread -lm

bench-native-blk: $(O)/bench/blk_bench $(O)/pviod
	PVIOD=$(O)/pviod userspace/bench/native-blk/run.sh $(O)/bench/blk_bench

$(O)/bench/notify_bench: userspace/bench/notify/notify_bench.c userspace/bench/common/bench_util.h $(RING_HDRS)
	@mkdir -p $(dir $@)
	$(call msg,CC,$@)
	$(Q)$(CC) $(BENCH_CFLAGS) -o $@ $< -lpthread -lm

bench-notify: $(O)/bench/notify_bench
	userspace/bench/notify/run.sh $(O)/bench/notify_bench

$(O)/bench/net_bench: userspace/bench/native-net/net_bench.c userspace/bench/common/bench_util.h $(FRONT_SRCS) $(FRONT_HDRS) $(RING_HDRS)
	@mkdir -p $(dir $@)
	$(call msg,CC,$@)
	$(Q)$(CC) $(BENCH_CFLAGS) -o $@ $< $(FRONT_SRCS) -lpthread -lm

$(O)/bench/net_gen: userspace/bench/native-net/net_gen.c userspace/bench/common/bench_util.h
	@mkdir -p $(dir $@)
	$(call msg,CC,$@)
	$(Q)$(CC) $(BENCH_CFLAGS) -o $@ $< -lpthread

bench-native-net: $(O)/bench/net_bench $(O)/bench/net_gen $(O)/pviod
	PVIOD=$(O)/pviod userspace/bench/native-net/run.sh $(O)/bench

$(O)/bench/iso_bench: userspace/bench/isolation/iso_bench.c userspace/bench/common/bench_util.h $(FRONT_SRCS) $(FRONT_HDRS) $(RING_HDRS)
	@mkdir -p $(dir $@)
	$(call msg,CC,$@)
	$(Q)$(CC) $(BENCH_CFLAGS) -o $@ $< $(FRONT_SRCS) -lpthread -lm

# An attacking guest beside an honest one, two guests against one.
bench-isolation: $(O)/bench/iso_bench $(O)/pviod
	PVIOD=$(O)/pviod userspace/bench/isolation/run.sh $(O)/bench/iso_bench $(ISO_ARGS)

# Host memory of 4 guests with changing working sets: no balloon,
# virtio-balloon with free page reporting, pvio's host-wide policy; 3
# rounds (GUESTS, SECS, ROUNDS; about 15 minutes on this 2-core machine).
bench-memory: deps
	@$(MAKE) --no-print-directory all modules
	O=$(O) PVIO_BENCH_NOBUILD=1 userspace/bench/vm-memory/run.sh

# Every benchmark in turn, each with a report and a plot in BENCH_REPORT
# (default $(O)/bench-report): BENCHES="ring notify ..." runs some of them.
# Well over an hour on this 2-core machine (userspace/bench/all.sh).
bench: deps
	@$(MAKE) --no-print-directory all modules
	O=$(O) PVIO_BENCH_NOBUILD=1 userspace/bench/all.sh

# ---- kernel modules ----------------------------------------------------------
#
# The sources are copied into a per-flavour build directory so the tree stays
# free of build outputs and the generic and PREEMPT_RT builds do not collide.

KSRC_DIRS	:= include frontend tests/kmod

# The kernel build's own exit status counts (a pipe into tee would hide it:
# modpost's "ERROR: ..." matches no pattern below), then any warning fails.
# $(4): more kbuild variables for this flavour.
define kbuild
	@test -d "$(2)" || { echo "no kernel headers at '$(2)' (run tools/deps.sh or set $(3))"; exit 1; }
	@rm -rf $(O)/kmod-$(1) && mkdir -p $(O)/kmod-$(1)
	@cp -r --parents Kbuild $(wildcard $(KSRC_DIRS)) $(O)/kmod-$(1)/
	$(Q)+{ $(MAKE) -C $(2) O= M=$(abspath $(O))/kmod-$(1) W=1 C=1 $(4) modules 2>&1; \
	   echo $$? >$(O)/kmod-$(1).rc; } | tee $(O)/kmod-$(1).log; \
	exit $$(cat $(O)/kmod-$(1).rc)
	@! grep -E '(warning|error|ERROR):' $(O)/kmod-$(1).log
endef

modules:
	$(call kbuild,generic,$(KDIR),KDIR)

modules-rt:
	$(call kbuild,rt,$(KDIR_RT),KDIR_RT)

# Against the debug guest kernel's build (tools/debug-kernel.sh prints its
# KDIR), with UBSAN: that kernel instruments only what asks for it.
modules-debug:
	$(call kbuild,debug,$(KDIR_DEBUG),KDIR_DEBUG,UBSAN_SANITIZE=y)

# ---- checks ------------------------------------------------------------------

CHECKPATCH_FILES = $(wildcard include/pvio/*.h frontend/*.c frontend/*.h tests/kmod/*.c)

# Every shell script of the tree (the build directory's copies left out).
SHELL_SCRIPTS = $(shell find . \( -path ./.git -o -path ./build -o -path ./$(O) \) -prune -o \
			-name '*.sh' -print | sort) \
		.ci/run debian/pvio-host.postinst packaging/libvirt/qemu tools/guest/pvio-psi-agent

lint: lint-checkpatch lint-shell

# Run from $(O): checkpatch leaves its CamelCase cache
# (.checkpatch-camelcase.*) in the directory it runs in; GIT_DIR lets it
# seed that cache from git, as it does at the top of a tree.
lint-checkpatch: $(HARNESS)
	$(call msg,CHECK,checkpatch.pl --strict)
	$(Q)cd $(O) && GIT_DIR=$(abspath .git) perl $(abspath $(O))/ksrc/scripts/checkpatch.pl --strict --no-tree --terse \
		--ignore SPDX_LICENSE_TAG,FILE_PATH_CHANGES -f $(abspath $(CHECKPATCH_FILES))

# Warnings and errors; -x follows the helpers a script sources (the
# guest scripts name tools/vm/guest-tap.sh, which the initramfs holds as
# /tests/tap.sh).
lint-shell:
	$(call msg,CHECK,shellcheck)
	$(Q)shellcheck -x -S warning $(SHELL_SCRIPTS)

check: deps
	@$(MAKE) --no-print-directory -j$(NPROC) all
	@O=$(O) KDIR=$(KDIR) KDIR_RT=$(KDIR_RT) tests/run.sh

# The VM tests on a guest kernel with KASAN, lockdep, kmemleak and more
# (tests/vm/debug-kernel.config): tests/run.sh's vm-debug suite builds
# that kernel once into $$PVIO_CACHE (default /var/cache/pvio; about
# 40 minutes on 2 cores, reused after), our modules against it
# ($(O)/kmod-debug), and runs the VM suites on it; any KASAN, lockdep or
# kmemleak report of ours, any BUG or WARNING, fails.  KASAN under TCG is
# slow: about 1 hour 30 minutes with the kernel cached.  Not part of
# make check.
check-debug-kernel: deps
	@$(MAKE) --no-print-directory all
	@O=$(O) PVIO_TESTS=vm-debug tests/run.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@tools/demo.sh

# ---- installing and packaging -------------------------------------------------

# The one version: debian/changelog's.
VERSION		:= $(shell sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' debian/changelog)
PREFIX		?= /usr/local
SBINDIR		?= $(PREFIX)/sbin
MANDIR		?= $(PREFIX)/share/man
UNITDIR		?= /lib/systemd/system
TMPFILESDIR	?= /usr/lib/tmpfiles.d
SYSCONFDIR	?= /etc

# The host side: pviod, pvioctl, the unit, the run directory, the man
# pages, a configuration with no guests (kept if one is there).
install: $(O)/pviod $(O)/pvioctl
	install -D -m 0755 $(O)/pviod $(DESTDIR)$(SBINDIR)/pviod
	install -D -m 0755 $(O)/pvioctl $(DESTDIR)$(SBINDIR)/pvioctl
	install -D -m 0644 packaging/systemd/pviod.service $(DESTDIR)$(UNITDIR)/pviod.service
	install -D -m 0644 packaging/systemd/pvio.conf $(DESTDIR)$(TMPFILESDIR)/pvio.conf
	install -D -m 0644 packaging/man/pviod.8 $(DESTDIR)$(MANDIR)/man8/pviod.8
	install -D -m 0644 packaging/man/pvioctl.8 $(DESTDIR)$(MANDIR)/man8/pvioctl.8
	install -D -m 0644 packaging/man/pviod.conf.5 $(DESTDIR)$(MANDIR)/man5/pviod.conf.5
	test -e $(DESTDIR)$(SYSCONFDIR)/pvio/pviod.ini || \
		install -D -m 0644 packaging/pviod.ini $(DESTDIR)$(SYSCONFDIR)/pvio/pviod.ini
	install -D -m 0755 packaging/libvirt/qemu $(DESTDIR)$(SYSCONFDIR)/libvirt/hooks/qemu.d/pvio
	install -d $(DESTDIR)$(SYSCONFDIR)/pvio/libvirt

# The guest modules' sources where DKMS looks for them (dkms add
# pvio/VERSION), and their manual page.
install-dkms:
	install -D -m 0644 packaging/man/pvio.4 $(DESTDIR)$(MANDIR)/man4/pvio.4
	install -d $(DESTDIR)$(PREFIX)/src/pvio-$(VERSION)/frontend $(DESTDIR)$(PREFIX)/src/pvio-$(VERSION)/include/pvio
	install -m 0644 frontend/Kbuild frontend/*.c frontend/*.h $(DESTDIR)$(PREFIX)/src/pvio-$(VERSION)/frontend/
	install -m 0644 include/pvio/*.h $(DESTDIR)$(PREFIX)/src/pvio-$(VERSION)/include/pvio/
	sed 's/#MODULE_VERSION#/$(VERSION)/' packaging/dkms/dkms.conf >$(DESTDIR)$(PREFIX)/src/pvio-$(VERSION)/dkms.conf
	install -D -m 0755 tools/guest/pvio-psi-agent $(DESTDIR)$(PREFIX)/sbin/pvio-psi-agent
	install -D -m 0644 packaging/man/pvio-psi-agent.8 $(DESTDIR)$(MANDIR)/man8/pvio-psi-agent.8
	install -D -m 0644 packaging/systemd/pvio-psi-agent.service $(DESTDIR)$(UNITDIR)/pvio-psi-agent.service

# pvio-host and pvio-dkms, built from a copy of the tracked files as they
# are (dpkg-buildpackage writes next to its tree) into $(O)/deb.
deb:
	@rm -rf $(O)/deb && mkdir -p $(O)/deb/src
	git ls-files -z | tar --null -T - -c | tar -x -C $(O)/deb/src
	cd $(O)/deb/src && dpkg-buildpackage -us -uc -b
	@ls $(O)/deb/*.deb

clean:
	rm -rf $(O)
