// A split virtqueue as the fuzzers that play its driver lay it out (virtqueue_fuzzer,
// mmio_transport_fuzzer, block_request_fuzzer): sizes and descriptors drawn from the input,
// which their formats read alike (virtqueue_ops.h, virtio_device_ops.h), and the layouts a
// device may make ready (virtio 1.2 section 2.7), which their models expect.
#ifndef VMMD_TESTS_FUZZ_QUEUE_LAYOUT_H_
#define VMMD_TESTS_FUZZ_QUEUE_LAYOUT_H_

#include <fuzzer/FuzzedDataProvider.h>
#include <linux/virtio_ring.h>

#include <cstdint>

#include "devices/virtio/virtqueue.h"
#include "tests/fuzz/guest_ram.h"

namespace vmmd::fuzz {

// How far a format's "near" values reach; "far" addresses and "big" lengths are raw.
struct NearRanges {
  uint64_t max_address;
  uint32_t max_length;
};

// An address: bool far; far: uint64, else uint64 in [0, near.max_address].
inline uint64_t ConsumeAddress(FuzzedDataProvider& provider, const NearRanges& near) {
  if (provider.ConsumeBool()) return provider.ConsumeIntegral<uint64_t>();
  return provider.ConsumeIntegralInRange<uint64_t>(0, near.max_address);
}

// A queue size that is a power of two: 1 << log2, log2 uint8 in [0, max_log2].
inline uint16_t ConsumeQueueSize(FuzzedDataProvider& provider, uint8_t max_log2) {
  return static_cast<uint16_t>(1u << provider.ConsumeIntegralInRange<uint8_t>(0, max_log2));
}

// A descriptor: address, length (bool big; big: uint32, else uint32 in [0, near.max_length]),
// flags uint8 in [0, 7], next uint16 in [0, size].
inline vring_desc ConsumeDescriptor(FuzzedDataProvider& provider, const NearRanges& near,
                                    uint16_t size) {
  vring_desc d;
  d.addr = ConsumeAddress(provider, near);
  d.len = provider.ConsumeBool() ? provider.ConsumeIntegral<uint32_t>()
                                 : provider.ConsumeIntegralInRange<uint32_t>(0, near.max_length);
  d.flags = provider.ConsumeIntegralInRange<uint8_t>(0, 7);
  d.next = provider.ConsumeIntegralInRange<uint16_t>(0, size);
  return d;
}

// Spec 2.7: a power-of-two size up to the device's maximum; the rings aligned (16, 2, 4) and
// inside RAM of `ram_size` bytes for 16 * size, 6 + 2 * size, 6 + 8 * size bytes.
inline bool ValidQueueLayout(const virtio::VirtqueueState& s, uint16_t max_size,
                             uint64_t ram_size) {
  const uint64_t size = s.size;
  return size != 0 && size <= max_size && (size & (size - 1)) == 0 &&
         s.descriptor_table.value() % 16 == 0 && s.available_ring.value() % 2 == 0 &&
         s.used_ring.value() % 4 == 0 && InRam(s.descriptor_table.value(), 16 * size, ram_size) &&
         InRam(s.available_ring.value(), 6 + 2 * size, ram_size) &&
         InRam(s.used_ring.value(), 6 + 8 * size, ram_size);
}

}  // namespace vmmd::fuzz

#endif  // VMMD_TESTS_FUZZ_QUEUE_LAYOUT_H_
