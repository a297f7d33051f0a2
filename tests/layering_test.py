#!/usr/bin/env python3
"""The layer map, enforced: kernels <- worker <- coordinator <- tools (tests and fuzz may use
anything). Nothing includes or links upward.

Checked on the source tree (no build needed):
  1. includes: a file under one layer includes no header of a higher layer; within kernels,
     kernels/core includes nothing of kernels/ outside core, and only kernels/ itself, CUDA-only
     files (*.cu, *.cuh, cuda_*, nccl_*) and the CUDA parts of the benchmark reach into
     kernels/cuda/; worker/common (shared by both services) includes only kernels/, proto/ and
     worker/common/.
  2. links: every gptoss_* library a CMake target links belongs to the same or a lower layer
     (a target's layer is the directory of the CMakeLists.txt that defines it).
Prints each violation as "file:line: what" and exits 1 if there is any.

    tests/layering_test.py [REPO_ROOT]
"""
import os
import re
import sys

LAYERS = {"kernels": 0, "worker": 1, "coordinator": 2, "tools": 3}
SOURCE_EXT = (".h", ".cc", ".cu", ".cuh")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def layer_of(path):
    return LAYERS.get(path.split("/", 1)[0])


def cuda_only(path):
    name = os.path.basename(path)
    return path.endswith((".cu", ".cuh")) or name.startswith(("cuda_", "nccl_"))


def check_include(src, inc):
    """The reason `src` may not include `inc`, or None."""
    src_layer, inc_layer = layer_of(src), layer_of(inc)
    if src_layer is None or inc_layer is None:
        return None
    if inc_layer > src_layer:
        return "includes %s, a higher layer" % inc
    if src.startswith("kernels/core/") and inc.startswith("kernels/") and \
            not inc.startswith("kernels/core/"):
        return "kernels/core includes %s (core is the bottom)" % inc
    if inc.startswith("kernels/cuda/") and not src.startswith("kernels/") and not cuda_only(src):
        return "reaches into the CUDA backend (%s); go through kernels/ops.h" % inc
    if src.startswith("worker/common/") and not inc.startswith(
            ("kernels/", "proto/", "worker/common/")):
        return "worker/common includes %s (it is shared below both services)" % inc
    return None


def includes(root):
    violations = []
    for top in LAYERS:
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for name in files:
                if not name.endswith(SOURCE_EXT):
                    continue
                path = os.path.relpath(os.path.join(dirpath, name), root)
                with open(os.path.join(root, path), encoding="utf-8", errors="replace") as f:
                    for lineno, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        why = check_include(path, m.group(1))
                        if why:
                            violations.append("%s:%d: %s" % (path, lineno, why))
    return violations


def cmake_files(root):
    for top in LAYERS:
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            if "CMakeLists.txt" in files:
                yield os.path.relpath(os.path.join(dirpath, "CMakeLists.txt"), root)


def links(root):
    defined = {}  # target -> (layer, file)
    calls = []    # (file, line, target, [libs])
    for path in cmake_files(root):
        text = open(os.path.join(root, path), encoding="utf-8").read()
        text_no_comments = re.sub(r"#[^\n]*", "", text)
        for m in re.finditer(r"add_(?:library|executable)\(\s*([\w-]+)", text_no_comments):
            defined[m.group(1)] = (layer_of(path), path)
        for m in re.finditer(r"target_link_libraries\(\s*([\w-]+)([^)]*)\)", text_no_comments):
            line = text_no_comments[:m.start()].count("\n") + 1
            libs = [w for w in m.group(2).split() if w.startswith("gptoss_")]
            calls.append((path, line, m.group(1), libs))
    violations = []
    for path, line, target, libs in calls:
        if target not in defined:
            continue
        target_layer = defined[target][0]
        for lib in libs:
            if lib in defined and defined[lib][0] > target_layer:
                violations.append("%s:%d: %s links %s (defined in %s, a higher layer)" %
                                  (path, line, target, lib, defined[lib][1]))
    return violations


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(
        os.path.dirname(os.path.abspath(__file__)))
    violations = includes(root) + links(root)
    for v in violations:
        print(v)
    print("layering: %d violation(s)" % len(violations))
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
