#include "tests/linux/cpio_archive.h"

#include <sys/stat.h>

#include "absl/strings/str_format.h"

namespace vmmd::testing {
namespace {

// Names and data each start on a 4-byte boundary.
void PadToFour(std::string& bytes) { bytes.append((4 - bytes.size() % 4) % 4, '\0'); }

}  // namespace

void CpioArchive::AddDirectory(std::string_view path) { Add(path, S_IFDIR | 0755, ""); }

void CpioArchive::AddFile(std::string_view path, std::string_view contents, uint32_t permissions) {
  Add(path, S_IFREG | permissions, contents);
}

void CpioArchive::AddCharDevice(std::string_view path, uint32_t major, uint32_t minor) {
  Add(path, S_IFCHR | 0600, "", major, minor);
}

void CpioArchive::Add(std::string_view path, uint32_t mode, std::string_view contents,
                      uint32_t rdev_major, uint32_t rdev_minor) {
  // magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor,
  // rdevminor, namesize (with its NUL), check: 8 hex digits each.
  absl::StrAppendFormat(&bytes_, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
                        next_inode_++, mode, 0, 0, 1, 0, contents.size(), 0, 0, rdev_major,
                        rdev_minor, path.size() + 1, 0);
  bytes_.append(path);
  bytes_.push_back('\0');
  PadToFour(bytes_);
  bytes_.append(contents);
  PadToFour(bytes_);
}

std::string CpioArchive::Finish() && {
  Add("TRAILER!!!", 0, "");
  return std::move(bytes_);
}

}  // namespace vmmd::testing
