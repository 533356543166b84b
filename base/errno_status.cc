#include "base/errno_status.h"

#include <string.h>

#include "absl/strings/str_cat.h"

namespace vmmd {

absl::Status ErrnoToStatus(int error_number, absl::string_view call) {
  char buffer[128];
  // GNU strerror_r returns the message, which may or may not live in `buffer`.
  const char* text = strerror_r(error_number, buffer, sizeof(buffer));
  return absl::Status(absl::ErrnoToStatusCode(error_number),
                      absl::StrCat(call, ": ", text, " (errno ", error_number, ")"));
}

}  // namespace vmmd
