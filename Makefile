# Culvert — two commands matter (see README): `make demo` and `make test`.
# Both install what they need (idempotently) and work on a fresh Debian 12 + Swift 6.3 machine as root.

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
SWIFT ?= swift
BUILD_DIR ?= .build
PRODUCTS := $(BUILD_DIR)/debug
FUZZ_BUILD_DIR ?= .build-fuzz

.PHONY: all deps build test demo generate check-generated format lint fuzz-replay certify fuzz bench soak deb deb-smoke deb-piuparts clean

all: build

deps:
	@scripts/install-deps

build: deps
	$(SWIFT) build --scratch-path $(BUILD_DIR) 2>&1 | scripts/quiet-build

# The whole suite: generated files fresh, formatting, unit and integration tests (real daemon,
# real sockets, real users), both directions of varlink certification, fuzz corpus replay, and the
# version-skew matrix (scripts/skew-build builds an older commit's products once, under .build-skew/),
# and the packages (issue 15): two versions built from this checkout (cached by content under
# .build-deb/test-v1, test-v2; one release build in .build-release/), upgraded between live under
# systemd in a Debian 12 container (the root cached by scripts/debian-root), and installed without
# systemd in a chroot, and piuparts' install/purge test of each package (offline, on the same root).
# Each packaging test is one line after scripts/deb-test-versions, taking the directories below.
# scripts/check-foundation: no shipped executable uses full Foundation (ICU) instead of FoundationEssentials.
DEB_TEST_V1 := .build-deb/test-v1
DEB_TEST_V2 := .build-deb/test-v2
test: deps check-generated lint
	$(SWIFT) build --build-tests --scratch-path $(BUILD_DIR) 2>&1 | scripts/quiet-build
	scripts/check-foundation $(PRODUCTS)
	scripts/certify $(PRODUCTS)
	$(PRODUCTS)/culvert-fuzz replay Fuzz/corpus
	scripts/skew-build >/dev/null
	$(SWIFT) test --skip-build --scratch-path $(BUILD_DIR)
	scripts/deb-test-versions >/dev/null
	scripts/deb-acceptance $(DEB_TEST_V1) $(DEB_TEST_V2)
	scripts/deb-chroot-smoke $(DEB_TEST_V1)
	scripts/deb-piuparts $(DEB_TEST_V2)

# A live WireGuard tunnel in two private network namespaces, watched in culvert-tui. `build` builds
# every product the script runs: culvertd, culvertctl, culvert-tui and culvert-wireguard (the
# tunnel's provider); deps brings wireguard-go and wg (the peer), iproute2, ping and iperf3.
demo: build
	scripts/demo $(PRODUCTS)

# The .varlink files are the source of truth; the Swift files embedding them are generated.
generate:
	scripts/embed-varlink Sources/CulvertVarlink VarlinkBundledInterfaces
	scripts/embed-varlink Sources/CulvertWire ManagerInterfaces
	scripts/varlink-names Sources/CulvertVarlink/VarlinkNames.swift Sources/CulvertVarlink/Interfaces/org.varlink.*.varlink
	scripts/varlink-names Sources/CulvertWire/WireNames.swift \
	  Sources/CulvertVarlink/Interfaces/io.culvert.Provider.varlink Sources/CulvertWire/Interfaces/io.culvert.Manager.varlink

GENERATED = Sources/CulvertVarlink/VarlinkBundledInterfaces.swift Sources/CulvertWire/ManagerInterfaces.swift \
  Sources/CulvertVarlink/VarlinkNames.swift Sources/CulvertWire/WireNames.swift

check-generated: generate
	@git ls-files --error-unmatch -- $(GENERATED) >/dev/null && git diff --quiet -- $(GENERATED) \
	  || { echo "generated interface files were stale; run 'make generate' and commit"; git --no-pager diff --stat; exit 1; }

format:
	$(SWIFT) format --in-place --recursive --parallel Package.swift Sources Tests tunnel

lint:
	$(SWIFT) format lint --strict --recursive --parallel Package.swift Sources Tests tunnel

certify: build
	scripts/certify $(PRODUCTS)

# libFuzzer run (not part of `make test`): FUZZ_TARGET=varlink-message|varlink-idl|bundle-manifest|bundle-signature|virtio-split|wireguard-datagram|wireguard-handover, FUZZ_SECONDS.
FUZZ_TARGET ?= varlink-message
FUZZ_SECONDS ?= 600
fuzz: deps
	scripts/fuzz $(FUZZ_TARGET) $(FUZZ_SECONDS)

bench: deps
	$(SWIFT) build -c release --scratch-path $(BUILD_DIR) --product culvert-bench 2>&1 | scripts/quiet-build
	$(SWIFT) build -c release --scratch-path $(BUILD_DIR) --product culvertd 2>&1 | scripts/quiet-build
	$(SWIFT) build -c release --scratch-path $(BUILD_DIR) --product culvert-test-provider 2>&1 | scripts/quiet-build
	$(SWIFT) build -c release --scratch-path $(BUILD_DIR) --product culvert-tui 2>&1 | scripts/quiet-build
	$(SWIFT) build -c release --scratch-path $(BUILD_DIR) --product culvertctl 2>&1 | scripts/quiet-build
	$(BUILD_DIR)/release/culvert-bench ipc
	$(BUILD_DIR)/release/culvert-bench tunnel
	$(BUILD_DIR)/release/culvert-bench queue
	$(BUILD_DIR)/release/culvert-bench flood
	python3 Benchmarks/tui-latency.py $(BUILD_DIR)/release 100

# The full upgrade soak (issue 5): 50 live upgrades, 50 re-execs, 20 crashes under traffic (root).
soak: deps
	$(SWIFT) build -c release --scratch-path $(BUILD_DIR) --product culvert-bench 2>&1 | scripts/quiet-build
	$(SWIFT) build -c release --scratch-path $(BUILD_DIR) --product culvertd 2>&1 | scripts/quiet-build
	$(SWIFT) build -c release --scratch-path $(BUILD_DIR) --product culvert-test-provider 2>&1 | scripts/quiet-build
	$(BUILD_DIR)/release/culvert-bench soak

# Debian packages (culvert, culvert-tui, culvert-wireguard) from a clean copy of HEAD: docs/PACKAGING.md.
# CULVERT_VERSION (default from git), CULVERT_SIGNING_KEY (default: a local key, made once),
# CULVERT_DEB_WORKTREE=1 to package uncommitted edits; the .debs land in .build-deb/out.
deb: deps
	scripts/deb-build

# The packages installed and started under systemd in a Debian 12 container (cached root),
# and without systemd (a chroot: the install spooled while culvertd is down, applied when it starts).
deb-smoke: deb
	scripts/deb-smoke .build-deb/out
	scripts/deb-chroot-smoke .build-deb/out

# piuparts on each package (install, remove and reinstall, purge and reinstall, purge: nothing left
# behind), offline on the cached Debian 12 root; the newest version in .build-deb/out. With the
# upgrade test too: scripts/deb-piuparts NEW_DIRECTORY OLD_DIRECTORY (docs/PACKAGING.md).
deb-piuparts: deb
	scripts/deb-piuparts .build-deb/out

clean:
	rm -rf .build .build-* 
