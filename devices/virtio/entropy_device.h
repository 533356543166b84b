// EntropyDevice: virtio-rng (virtio 1.2 section 5.4, device id 4). One request queue; each
// chain's device-writable buffers are filled with bytes from getrandom(2), the kernel's
// CSPRNG, which never blocks once the host's pool is initialised.
#ifndef VMMD_DEVICES_VIRTIO_ENTROPY_DEVICE_H_
#define VMMD_DEVICES_VIRTIO_ENTROPY_DEVICE_H_

#include <atomic>
#include <cstdint>
#include <vector>

#include "devices/virtio/virtio_device.h"

namespace vmmd::virtio {

class EntropyDevice : public VirtioDevice {
 public:
  static constexpr uint16_t kQueueSize = 256;
  // Bytes given per request at most: a driver posting one huge buffer gets this much and
  // asks again, so one request cannot hold the VM's event loop for long.
  static constexpr uint32_t kMaxBytesPerRequest = 64 * 1024;

  uint32_t device_id() const override { return kDeviceIdEntropy; }
  uint64_t offered_features() const override { return kFeatureIndirectDesc | kFeatureEventIdx; }
  std::vector<uint16_t> queue_max_sizes() const override { return {kQueueSize}; }
  // No device-specific configuration (5.4.4).
  void ReadConfig(uint64_t offset, absl::Span<uint8_t> data) const override;
  absl::Status ProcessQueue(size_t index, Virtqueue& queue, GuestMemory& memory) override;
  DeviceCounters counters() const override;

 private:
  AtomicDeviceCounters counters_;
};

}  // namespace vmmd::virtio

#endif  // VMMD_DEVICES_VIRTIO_ENTROPY_DEVICE_H_
