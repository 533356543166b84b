// The input format of virtqueue_fuzzer (documented there), shared with seed_gen.cc so that
// the seeds and the fuzzer cannot drift apart: opcodes and the ranges values are drawn from.
#ifndef VMMD_TESTS_FUZZ_VIRTQUEUE_OPS_H_
#define VMMD_TESTS_FUZZ_VIRTQUEUE_OPS_H_

#include <cstdint>

namespace vmmd::fuzz::virtqueue {

// Guest RAM: 64 KiB, room for queues of up to 256 entries and their buffers.
inline constexpr uint64_t kMemorySize = 0x10000;

// Ranges of the "near" values: addresses and lengths up to a little beyond the end of RAM;
// a "far" address or a "big" length is a raw 64- or 32-bit value.
inline constexpr uint64_t kMaxNearAddress = kMemorySize + 0x40;
inline constexpr uint32_t kMaxNearLength = 0x1000;
// A "small" queue size is 1 << log2, log2 in [0, kMaxSizeLog2]; otherwise a raw uint16.
inline constexpr uint8_t kMaxSizeLog2 = 8;
// ChainLimits: max_total_length in [0, kMaxLimitLength] unless unlimited, max_buffers in
// [0, kMaxLimitBuffers].
inline constexpr uint32_t kMaxLimitLength = 0x10000;
inline constexpr uint32_t kMaxLimitBuffers = 300;
// Bytes a kPatch writes, and how many a popped chain's write covers at most.
inline constexpr uint8_t kMaxPatchBytes = 32;
inline constexpr uint16_t kMaxWriteBytes = 0x2000;

enum Op : uint8_t {
  kSetDescriptor = 0,   // descriptor `index` of the queue's table
  kWriteDescriptorAt,   // a descriptor anywhere in RAM (indirect tables)
  kMakeAvailable,       // the driver adds a head to the available ring and bumps idx
  kMoveAvailIdx,        // the driver adds a delta to avail->idx (possibly a bogus one)
  kSetDriverFields,     // avail->flags and used_event
  kPop,                 // the device pops a chain, reads it, writes into it, and holds it
  kAddUsed,             // the device returns a held chain
  kNeedsInterrupt,      // the device asks whether to interrupt
  kSnapshot,            // the queue's state is saved and a queue restored from it
  kPatch,               // the guest scribbles bytes anywhere in RAM
  kLastOp = kPatch,
};

}  // namespace vmmd::fuzz::virtqueue

#endif  // VMMD_TESTS_FUZZ_VIRTQUEUE_OPS_H_
