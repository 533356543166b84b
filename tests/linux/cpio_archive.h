// An initramfs built in memory: the cpio "newc" format the kernel unpacks
// (Documentation/driver-api/early-userspace/buffer-format.rst), for the Linux boot tests.
#ifndef VMMD_TESTS_LINUX_CPIO_ARCHIVE_H_
#define VMMD_TESTS_LINUX_CPIO_ARCHIVE_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace vmmd::testing {

class CpioArchive {
 public:
  void AddDirectory(std::string_view path);
  void AddFile(std::string_view path, std::string_view contents, uint32_t permissions = 0644);
  void AddCharDevice(std::string_view path, uint32_t major, uint32_t minor);
  // The archive, closed with the TRAILER!!! entry.
  std::string Finish() &&;

 private:
  void Add(std::string_view path, uint32_t mode, std::string_view contents, uint32_t rdev_major = 0,
           uint32_t rdev_minor = 0);

  std::string bytes_;
  uint32_t next_inode_ = 1;
};

}  // namespace vmmd::testing

#endif  // VMMD_TESTS_LINUX_CPIO_ARCHIVE_H_
