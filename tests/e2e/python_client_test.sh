#!/bin/sh
# ctest entry of the Python gRPC client test: picks a python3 that has Debian's python3-grpcio
# (the first python3 on PATH may be another installation) and runs python_client_test.py.
# Exit 77 (ctest: skipped) with the reason printed when none has it.
for py in /usr/bin/python3 python3; do
  if command -v "$py" >/dev/null 2>&1 && "$py" -c "import grpc, google.protobuf" 2>/dev/null; then
    exec "$py" "$(dirname "$0")/python_client_test.py" "$@"
  fi
done
echo "SKIPPED: no python3 with the grpc module (install python3-grpcio python3-protobuf)"
exit 77
