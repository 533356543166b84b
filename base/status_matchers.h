// GoogleTest matchers for absl::Status and absl::StatusOr<T> (Debian's Abseil ships none):
//   EXPECT_THAT(s, IsOk());
//   EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("vcpu_count")));
//   ASSERT_OK_AND_ASSIGN(auto value, ReturnsStatusOr());
#ifndef VMMD_BASE_STATUS_MATCHERS_H_
#define VMMD_BASE_STATUS_MATCHERS_H_

#include <ostream>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmd::testing {

inline const absl::Status& GetStatus(const absl::Status& status) { return status; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

MATCHER(IsOk, negation ? "is not OK" : "is OK") {
  const absl::Status& status = GetStatus(arg);
  if (!status.ok()) *result_listener << "status is " << status;
  return status.ok();
}

MATCHER_P2(StatusIs, code, message_matcher,
           std::string("has code ") + absl::StatusCodeToString(code)) {
  const absl::Status& status = GetStatus(arg);
  *result_listener << "status is " << status;
  return status.code() == code &&
         ::testing::Matches(message_matcher)(std::string(status.message()));
}

// A StatusOr that is OK and holds a value `value_matcher` accepts.
MATCHER_P(IsOkAndHolds, value_matcher, "is OK and holds a matching value") {
  if (!arg.ok()) {
    *result_listener << "status is " << arg.status();
    return false;
  }
  return ::testing::ExplainMatchResult(value_matcher, *arg, result_listener);
}

}  // namespace vmmd::testing

#define VMMD_MATCHERS_CONCAT_INNER_(a, b) a##b
#define VMMD_MATCHERS_CONCAT_(a, b) VMMD_MATCHERS_CONCAT_INNER_(a, b)

#define ASSERT_OK(expr) ASSERT_THAT((expr), ::vmmd::testing::IsOk())
#define EXPECT_OK(expr) EXPECT_THAT((expr), ::vmmd::testing::IsOk())

#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  VMMD_ASSERT_OK_AND_ASSIGN_IMPL_(VMMD_MATCHERS_CONCAT_(vmmd_statusor_, __LINE__), lhs, expr)
#define VMMD_ASSERT_OK_AND_ASSIGN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                   \
  ASSERT_OK(statusor);                                      \
  lhs = std::move(statusor).value()

#endif  // VMMD_BASE_STATUS_MATCHERS_H_
