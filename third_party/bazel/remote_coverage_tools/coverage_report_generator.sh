#!/bin/sh
echo "coverage is not available in the offline Bazel setup; use gcov/lcov" >&2
exit 1
