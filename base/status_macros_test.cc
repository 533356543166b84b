#include "base/status_macros.h"

#include <memory>

#include "base/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmd {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::IsOk;
using ::vmmd::testing::StatusIs;

absl::StatusOr<std::unique_ptr<int>> MakeValue(bool ok) {
  if (!ok) return absl::OutOfRangeError("too big");
  return std::make_unique<int>(7);
}

absl::Status Step(bool ok) { return ok ? absl::OkStatus() : absl::NotFoundError("gone"); }

absl::StatusOr<int> UseBoth(bool value_ok, bool step_ok) {
  ASSIGN_OR_RETURN(std::unique_ptr<int> value, MakeValue(value_ok));  // move-only works
  RETURN_IF_ERROR(Step(step_ok));
  return *value + 1;
}

TEST(StatusMacrosTest, PassesValuesThrough) {
  absl::StatusOr<int> result = UseBoth(true, true);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(*result, 8);
}

TEST(StatusMacrosTest, ReturnsTheFirstError) {
  EXPECT_THAT(UseBoth(false, false), StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("big")));
  EXPECT_THAT(UseBoth(true, false), StatusIs(absl::StatusCode::kNotFound, HasSubstr("gone")));
}

TEST(StatusMatchersTest, IsOkRejectsErrors) {
  EXPECT_THAT(absl::OkStatus(), IsOk());
  EXPECT_THAT(absl::InternalError("x"), ::testing::Not(IsOk()));
  EXPECT_THAT(absl::InternalError("x"),
              ::testing::Not(StatusIs(absl::StatusCode::kNotFound, ::testing::_)));
}

}  // namespace
}  // namespace vmmd
