#!/usr/bin/env bash
# `make test`: the unit tests and the tests that start their own services (tests/isolated, and
# tests/sources: the connectors against real local servers) run beside the tests of the shared
# stack, which spend much of their time waiting on processes (on
# 2 cores one pytest alone keeps them ~65 % busy). Extra arguments go to both runs (`make
# test-fast` passes -m "not slow"). Exit status: the first failing run's.
set -u
bin=.venv/bin
log=$(mktemp)
# at lower CPU priority: the stack's tests include timings (the quote before the first token)
nice -n 10 "$bin/pytest" -q -p no:cacheprovider "$@" tests/unit tests/isolated tests/sources >"$log" 2>&1 &
unit=$!
"$bin/pytest" -q -p no:cacheprovider "$@" tests/integration tests/e2e
stack=$?
wait "$unit"
units=$?
echo "--- unit and isolated tests (run alongside) ---"
cat "$log"
rm -f "$log"
if [ "$stack" -ne 0 ]; then exit "$stack"; fi
exit "$units"
