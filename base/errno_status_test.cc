#include "base/errno_status.h"

#include <errno.h>

#include "base/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmd {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::vmmd::testing::StatusIs;

TEST(ErrnoToStatusTest, NamesTheCallAndMapsTheCode) {
  EXPECT_THAT(ErrnoToStatus(ENOENT, "open(/dev/kvm)"),
              StatusIs(absl::StatusCode::kNotFound,
                       AllOf(HasSubstr("open(/dev/kvm)"), HasSubstr("errno 2"))));
  EXPECT_THAT(ErrnoToStatus(EINVAL, "KVM_CREATE_VCPU(id=3)"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("KVM_CREATE_VCPU(id=3)")));
  EXPECT_THAT(ErrnoToStatus(ENOMEM, "mmap"),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("mmap")));
}

}  // namespace
}  // namespace vmmd
