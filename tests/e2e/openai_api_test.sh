#!/bin/sh
# ctest entry of the OpenAI-compatible HTTP API test: picks a Python that has the openai package
# ($GPTOSS_OPENAI_VENV/bin/python, else <source>/.venv-test/bin/python) and runs
# openai_api_test.py with the same arguments (--cli GPTOSS --source SOURCE_DIR --scratch DIR).
# Exit 77 (ctest: skipped) with the reason printed when neither has it. Make one with:
#   python3 -m venv .venv-test && .venv-test/bin/pip install -r tests/e2e/openai_requirements.txt
here=$(cd "$(dirname "$0")" && pwd)
source_dir=$(cd "$here/../.." && pwd)
prev=
for arg in "$@"; do  # --source SOURCE_DIR (or --source=SOURCE_DIR) names the tree
  case "$prev" in --source) source_dir=$arg ;; esac
  case "$arg" in --source=*) source_dir=${arg#--source=} ;; esac
  prev=$arg
done
for py in "${GPTOSS_OPENAI_VENV:+$GPTOSS_OPENAI_VENV/bin/python}" "$source_dir/.venv-test/bin/python"; do
  if [ -n "$py" ] && [ -x "$py" ] && "$py" -c "import openai" 2>/dev/null; then
    exec "$py" "$here/openai_api_test.py" "$@"
  fi
done
echo "SKIPPED: no Python with the openai package (\$GPTOSS_OPENAI_VENV/bin/python or" \
  "$source_dir/.venv-test/bin/python; make one with: python3 -m venv $source_dir/.venv-test &&" \
  "$source_dir/.venv-test/bin/pip install -r $here/openai_requirements.txt)"
exit 77
