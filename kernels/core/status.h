// Status plumbing shared by every layer. absl::Status / StatusOr cross every boundary; no
// exceptions. CUDA, cuBLAS and NCCL codes are converted by macros in kernels/cuda/cuda_check.h
// that keep the failing expression and file:line, like the macros here.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

#define GPTOSS_CONCAT_INNER(a, b) a##b
#define GPTOSS_CONCAT(a, b) GPTOSS_CONCAT_INNER(a, b)

// Returns from the enclosing function if `expr` (an absl::Status) is not OK.
#define GPTOSS_RETURN_IF_ERROR(expr)                                  \
  do {                                                         \
    ::absl::Status gptoss_status_ = (expr);                    \
    if (!gptoss_status_.ok()) return gptoss_status_;           \
  } while (0)

// `lhs = value of expr` where expr is an absl::StatusOr<T>; returns the error otherwise.
#define GPTOSS_ASSIGN_OR_RETURN(lhs, expr) \
  GPTOSS_ASSIGN_OR_RETURN_IMPL(GPTOSS_CONCAT(gptoss_statusor_, __LINE__), lhs, expr)
#define GPTOSS_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()

// Precondition check that becomes InvalidArgument naming the failed condition and location.
#define GPTOSS_CHECK_ARG(cond, ...)                                                      \
  do {                                                                                   \
    if (!(cond))                                                                         \
      return ::absl::InvalidArgumentError(::absl::StrCat(                                \
          __VA_ARGS__, " [", #cond, " at ", ::gptoss::BaseName(__FILE__), ":", __LINE__, "]")); \
  } while (0)

namespace gptoss {
constexpr const char* BaseName(const char* path) {
  const char* base = path;
  for (const char* p = path; *p; ++p)
    if (*p == '/') base = p + 1;
  return base;
}
}  // namespace gptoss
