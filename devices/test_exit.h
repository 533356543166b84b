// A test-exit port (0xf4, 4 bytes, where QEMU's isa-debug-exit sits): a guest writes an exit
// code and the VM stops with reason "guest exit code N". Lets tiny test guests end a run.
#ifndef VMMD_DEVICES_TEST_EXIT_H_
#define VMMD_DEVICES_TEST_EXIT_H_

#include <cstdint>
#include <functional>
#include <utility>

#include "devices/port_io_device.h"

namespace vmmd {

class TestExit : public PortIoDevice {
 public:
  static constexpr uint16_t kBase = 0xf4;
  static constexpr uint16_t kPortCount = 4;

  // `on_exit` gets the value written (zero-extended from 1, 2 or 4 bytes), called from the
  // vCPU thread. Only writes at offset 0 count; reads return 0xff.
  explicit TestExit(std::function<void(uint32_t)> on_exit) : on_exit_(std::move(on_exit)) {}

  void Read(uint16_t offset, absl::Span<uint8_t> data) override;
  void Write(uint16_t offset, absl::Span<const uint8_t> data) override;

 private:
  const std::function<void(uint32_t)> on_exit_;
};

}  // namespace vmmd

#endif  // VMMD_DEVICES_TEST_EXIT_H_
