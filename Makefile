# pgproxy: see README.md
.PHONY: demo demo-stop build release test bench clean

demo:
	scripts/demo.sh

demo-stop:
	@if [ -e .demo/pgdata ]; then scripts/pg-cluster.sh stop .demo/pgdata; fi

build:
	swift build

release:
	swift build -c release --product pgproxy

test:
	scripts/install-deps.sh
	swift build --build-tests
	swift test

bench:
	bench/run

clean:
	@if [ -e .demo/pgdata ]; then scripts/pg-cluster.sh destroy .demo/pgdata; fi
	swift package clean
	rm -rf .demo
