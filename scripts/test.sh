#!/usr/bin/env bash
# `make test`: three pytest runs side by side, each waiting on processes much of the time (on 2
# cores one pytest alone keeps them ~65 % busy):
#  1. the tests of the shared stack (tests/integration, tests/e2e), but for
#  2. the answer-quality gates and the corpus (test_eval.py, test_corpus.py: mostly the model
#     generating and the worker parsing), on a stack of their own, then `gptu tune` end to end
#     (tests/isolated/test_tune_command.py, the longest isolated test: a training run);
#  3. the unit tests and those that start their own services (tests/isolated, and tests/sources:
#     the connectors against real local servers), at lower CPU priority: the stack's tests
#     include timings (the quote before the first token).
# Extra arguments go to every run (`make test-fast` passes -m "not slow"). Exit status: the
# first failing run's.
set -u
bin=.venv/bin
gates=(tests/integration/test_eval.py tests/integration/test_corpus.py)
units_log=$(mktemp)
gates_log=$(mktemp)
tune=tests/isolated/test_tune_command.py
nice -n 10 "$bin/pytest" -q -p no:cacheprovider "$@" --ignore="$tune" tests/unit tests/isolated \
  tests/sources >"$units_log" 2>&1 &
units_pid=$!
nice -n 10 "$bin/pytest" -q -p no:cacheprovider "$@" "${gates[@]}" "$tune" >"$gates_log" 2>&1 &
gates_pid=$!
"$bin/pytest" -q -p no:cacheprovider "$@" ${gates[@]/#/--ignore=} tests/integration tests/e2e
stack=$?
wait "$gates_pid"
gates_status=$?
wait "$units_pid"
units=$?
echo "--- answer-quality gates and the corpus, on their own stack (run alongside) ---"
cat "$gates_log"
echo "--- unit, isolated and sources tests (run alongside) ---"
cat "$units_log"
rm -f "$units_log" "$gates_log"
for status in "$stack" "$gates_status" "$units"; do
  if [ "$status" -ne 0 ] && [ "$status" -ne 5 ]; then exit "$status"; fi
done
exit 0
