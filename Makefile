# pgproxy: see README.md
.PHONY: demo demo-stop build release test fuzz bench clean

demo:
	scripts/demo.sh

demo-stop:
	@if [ -e .demo/pgdata ]; then scripts/pg-cluster.sh stop .demo/pgdata; fi

build:
	swift build

release:
	scripts/release-build.sh

# The suites are XCTest; without --disable-swift-testing the run would end on Swift Testing's
# "0 tests" line instead of XCTest's summary.
test:
	scripts/install-deps.sh
	swift build --build-tests
	timeout -k 30 3000 swift test --disable-swift-testing
	# The integration tests again with every connection on SwiftNIO's loops (as with TLS).
	PGPROXY_TEST_IO_ENGINE=nio timeout -k 30 3000 swift test --skip-build --disable-swift-testing --filter IntegrationTests

# libFuzzer on the protocol decoders for FUZZ_SECONDS (default 60); see Fuzz/run.sh.
fuzz:
	Fuzz/run.sh

bench:
	bench/run

clean:
	@if [ -e .demo/pgdata ]; then scripts/pg-cluster.sh destroy .demo/pgdata; fi
	swift package clean
	rm -rf .demo
