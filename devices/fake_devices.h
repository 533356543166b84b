// Test doubles for devices/ tests: an interrupt line that counts edges and a port device
// that records what it was asked.
#ifndef VMMD_DEVICES_FAKE_DEVICES_H_
#define VMMD_DEVICES_FAKE_DEVICES_H_

#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "base/mutex.h"
#include "absl/types/span.h"
#include "devices/port_io_device.h"

namespace vmmd::testing {

class CountingInterrupt : public InterruptLine {
 public:
  void Trigger() override { count_.fetch_add(1, std::memory_order_relaxed); }
  int count() const { return count_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int> count_{0};
};

// Reads fill every byte with `fill`; each access is recorded.
class RecordingDevice : public PortIoDevice {
 public:
  struct Access {
    uint16_t offset;
    std::vector<uint8_t> data;  // what was written, or the read's length in zeros
  };

  explicit RecordingDevice(uint8_t fill = 0) : fill_(fill) {}

  void Read(uint16_t offset, absl::Span<uint8_t> data) override {
    for (uint8_t& byte : data) byte = fill_;
    MutexLock lock(&mutex_);
    reads_.push_back({offset, std::vector<uint8_t>(data.size(), 0)});
  }
  void Write(uint16_t offset, absl::Span<const uint8_t> data) override {
    MutexLock lock(&mutex_);
    writes_.push_back({offset, std::vector<uint8_t>(data.begin(), data.end())});
  }

  std::vector<Access> reads() const {
    MutexLock lock(&mutex_);
    return reads_;
  }
  std::vector<Access> writes() const {
    MutexLock lock(&mutex_);
    return writes_;
  }

 private:
  const uint8_t fill_;
  mutable Mutex mutex_;
  std::vector<Access> reads_ ABSL_GUARDED_BY(mutex_);
  std::vector<Access> writes_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace vmmd::testing

#endif  // VMMD_DEVICES_FAKE_DEVICES_H_
