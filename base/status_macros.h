// RETURN_IF_ERROR and ASSIGN_OR_RETURN: early return of a non-OK absl::Status.
// (Debian's Abseil 20220623 has no ABSL_RETURN_IF_ERROR.)
#ifndef VMMD_BASE_STATUS_MACROS_H_
#define VMMD_BASE_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Evaluates `expr` (an absl::Status) and returns it from the enclosing function if not OK.
#define RETURN_IF_ERROR(expr)                                  \
  do {                                                         \
    ::absl::Status vmmd_status_ = (expr);                      \
    if (!vmmd_status_.ok()) return vmmd_status_;               \
  } while (false)

#define VMMD_STATUS_CONCAT_INNER_(a, b) a##b
#define VMMD_STATUS_CONCAT_(a, b) VMMD_STATUS_CONCAT_INNER_(a, b)

// `ASSIGN_OR_RETURN(lhs, expr)`: evaluates `expr` (an absl::StatusOr<T>); on error returns its
// status, otherwise moves the value into `lhs` (which may be a declaration: `auto x`).
#define ASSIGN_OR_RETURN(lhs, expr) \
  VMMD_ASSIGN_OR_RETURN_IMPL_(VMMD_STATUS_CONCAT_(vmmd_statusor_, __LINE__), lhs, expr)

#define VMMD_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()

#endif  // VMMD_BASE_STATUS_MACROS_H_
