// The input formats of mmio_transport_fuzzer and block_request_fuzzer (documented there),
// shared with seed_gen.cc so that the seeds and the fuzzers cannot drift apart: opcodes,
// modes and the ranges values are drawn from. Both fuzzers describe virtio-blk requests the
// same way (namespace request); virtio_driver.h lays such a description out as a chain.
#ifndef VMMD_TESTS_FUZZ_VIRTIO_DEVICE_OPS_H_
#define VMMD_TESTS_FUZZ_VIRTIO_DEVICE_OPS_H_

#include <cstdint>

namespace vmmd::fuzz {

// The drive image both fuzzers serve: 64 KiB (128 sectors), plus an odd tail in some modes,
// which capacity leaves out (block_device.h: whole sectors only).
inline constexpr uint64_t kImageSize = 64 * 1024;
inline constexpr uint64_t kImageOddTail = 300;

// One virtio-blk request, as the driver lays it out (virtio 1.2 section 5.2.6: struct
// virtio_blk_req, le32 type, le32 reserved, le64 sector, data, u8 status), read in this order:
//   type choice   uint8 in [0, kLastType]; kRawType: then the type, uint32
//   sector        bool raw; raw: uint64, else uint16 in [0, kMaxNearSector]
//   header bytes  bool short; short: uint8 in [0, 15] (the header's first bytes only), else 16
//   data length   bool raw; raw: uint32 in [0, kMaxRawDataLength], else sectors uint8 in
//                 [0, kMaxDataSectors] (times 512)
//   data writable bool: the data is in the device-writable part (a read) or readable (a write)
//   status bytes  uint8 in [0, kMaxStatusLength]: the writable part's end
//   readable part pieces uint8 in [1, kMaxPieces], then pieces - 1 cut offsets uint32 in
//                 [0, part length] (sorted by the reader): one descriptor per piece. A part
//                 of length 0 in 1 piece has no descriptor; a chain without any gets one
//                 empty readable descriptor.
//   writable part the same
//   indirect      bool: the buffers in an indirect table (VIRTIO_F_INDIRECT_DESC)
//   gap           uint8: 8-byte units left free before the chain's buffers
//   pattern       uint8: the data bytes of a write are pattern, pattern + 1, ...
namespace request {
enum TypeChoice : uint8_t {
  kIn = 0,   // VIRTIO_BLK_T_IN
  kOut,      // VIRTIO_BLK_T_OUT
  kFlush,    // VIRTIO_BLK_T_FLUSH
  kGetId,    // VIRTIO_BLK_T_GET_ID
  kRawType,  // any type, e.g. VIRTIO_BLK_T_DISCARD (unsupported)
  kLastType = kRawType,
};
// Sectors up to a little beyond the 128 of the image.
inline constexpr uint16_t kMaxNearSector = 160;
inline constexpr uint8_t kMaxDataSectors = 32;
inline constexpr uint32_t kMaxRawDataLength = 0x12000;  // past the end of the image
inline constexpr uint8_t kMaxStatusLength = 2;
inline constexpr uint8_t kMaxPieces = 4;
}  // namespace request

// mmio_transport_fuzzer: the first value read is the mode, then operations.
namespace mmio_transport {

// Guest RAM: 1 MiB.
inline constexpr uint64_t kMemorySize = 0x100000;
// Ranges of the "near" values: addresses up to a little beyond the end of RAM, lengths up to
// a few pages; "far" and "big" ones are raw 64- and 32-bit values.
inline constexpr uint64_t kMaxNearAddress = kMemorySize + 0x40;
inline constexpr uint32_t kMaxNearLength = 0x4000;
// Queue sizes of kInit: 1 << log2, log2 in [0, kMaxSizeLog2] (the devices' maximum is 256).
inline constexpr uint8_t kMaxSizeLog2 = 8;
// Offsets of raw register accesses and configuration space accesses.
inline constexpr uint16_t kMaxRegisterOffset = 0xff;
inline constexpr uint16_t kMaxConfigOffset = 0x7f;
inline constexpr uint8_t kMaxPatchBytes = 32;

enum Mode : uint8_t {
  kBlockReadWrite = 0,  // virtio-blk, read-write
  kBlockReadOnly,       // virtio-blk, read-only drive on a read-write fd
  kBlockReadOnlyFd,     // virtio-blk, read-only drive on a read-only fd
  kBlockOddTail,        // virtio-blk, read-write, image of 64 KiB + kImageOddTail
  kEntropy,             // virtio-rng
  kLastMode = kEntropy,
};

// kInit's feature choice: bits the driver gets wrong on purpose.
enum InitFlags : uint8_t {
  kDropVersion1 = 1 << 0,    // does not accept VIRTIO_F_VERSION_1
  kDropEventIdx = 1 << 1,    // nor VIRTIO_F_EVENT_IDX
  kDropIndirect = 1 << 2,    // nor VIRTIO_F_INDIRECT_DESC
  kAddUnoffered = 1 << 3,    // accepts feature bit 0, never offered
  kStopAtFeatures = 1 << 4,  // stops after FEATURES_OK
  kStopBeforeLive = 1 << 5,  // stops after configuring the queue, before DRIVER_OK
  kOneWriteDriver = 1 << 6,  // ACKNOWLEDGE and DRIVER in one status write
  kNoReset = 1 << 7,         // does not reset first
};

// kInit's ring layouts.
enum Layout : uint8_t {
  kStandard = 0,  // descriptors 0x1000, available ring 0x5000, used ring 0x6000
  kPacked,        // the three back to back from 0x10000, as a legacy driver places them
  kTopOfRam,      // ending at the last byte of RAM
  kRawLayout,     // three addresses from the input
  kLastLayout = kRawLayout,
};

// Register writes and reads: a known register (an index into kRegisters) or a raw offset.
inline constexpr uint16_t kRegisters[] = {0x000, 0x004, 0x008, 0x00c, 0x010, 0x014, 0x020,
                                          0x024, 0x030, 0x034, 0x038, 0x044, 0x050, 0x060,
                                          0x064, 0x070, 0x080, 0x084, 0x090, 0x094, 0x0a0,
                                          0x0a4, 0x0ac, 0x0b0, 0x0b4, 0x0b8, 0x0bc, 0x0fc};
inline constexpr uint8_t kRegisterCount = sizeof(kRegisters) / sizeof(kRegisters[0]);

// How a register write's value is given.
enum ValueKind : uint8_t {
  kSmallValue = 0,  // uint8
  kValue32,         // uint32
  kValue64,         // uint64 (for 8-byte accesses; others take its low bytes)
  kReadOrBit,       // the register's current value with bit uint8 in [0, 31] set
  kLastValueKind = kReadOrBit,
};

enum Op : uint8_t {
  kInit = 0,           // the whole initialisation of 3.1.1 and 4.2.3 (flags, size, layout)
  kWriteRegister,      // any register, any width
  kReadRegister,       // any register, any width, against a reference
  kReadConfig,         // device configuration space, against a reference
  kWriteConfig,        // device configuration space (read-only for both devices)
  kSetDescriptor,      // descriptor `index` of queue 0's table
  kWriteDescriptorAt,  // a descriptor anywhere in RAM (indirect tables)
  kMakeAvailable,      // ring[avail->idx % size] = head, avail->idx + 1
  kMoveAvailIdx,       // avail->idx + delta
  kSetDriverFields,    // avail->flags and used_event
  kRequest,            // a virtio-blk request (the request format) made available
  kPatch,              // bytes anywhere in RAM
  kProcessQueue,       // MmioTransport::ProcessQueue(index), as after a spurious wake-up
  kNotify,             // a QueueNotify write
  kRunEventLoop,       // ProcessQueue for each queue whose notifier fired
  kInterruptAck,       // InterruptACK of what InterruptStatus says, or of a value
  kReset,              // status 0
  kSnapshot,           // state() restored into a new transport (and device), which carries on
  kLastOp = kSnapshot,
};

}  // namespace mmio_transport

// block_request_fuzzer: mode, queue size, features, drive id, then operations.
namespace block_request {

// Guest RAM: 512 KiB. The descriptor table, rings, indirect tables and buffers have their
// own areas, so that the model's buffers never overlap the rings.
inline constexpr uint64_t kMemorySize = 0x80000;
inline constexpr uint64_t kDescriptorTable = 0x0;
inline constexpr uint64_t kAvailableRing = 0x1000;
inline constexpr uint64_t kUsedRing = 0x2000;
inline constexpr uint64_t kIndirectBegin = 0x4000, kIndirectEnd = 0x10000;
inline constexpr uint64_t kDataBegin = 0x10000, kDataEnd = kMemorySize;
inline constexpr uint8_t kMaxSizeLog2 = 8;

enum Mode : uint8_t {
  kReadWrite = 0,
  kReadOnly,  // VIRTIO_BLK_F_RO on a read-write fd: the device alone must refuse writes
  kOddTail,   // read-write, image of 64 KiB + kImageOddTail
  kLastMode = kOddTail,
};

enum Op : uint8_t {
  kRequest = 0,  // a request (the request format) made available
  kProcess,      // BlockDevice::ProcessQueue(0), against the model
  kWrongIndex,   // ProcessQueue with an index other than 0: refused, nothing moves
  kBreakRing,    // a head >= size made available, or avail->idx more than size ahead
  kLastOp = kBreakRing,
};

}  // namespace block_request

// net_tx_fuzzer: features, queue sizes, then operations.
namespace net_tx {

// Guest RAM: 640 KiB. Rings, indirect tables and buffers have their own areas, so that the
// model's buffers never overlap the rings.
inline constexpr uint64_t kMemorySize = 0xa0000;
inline constexpr uint64_t kRxTable = 0x0, kRxAvail = 0x1000, kRxUsed = 0x2000;
inline constexpr uint64_t kTxTable = 0x3000, kTxAvail = 0x4000, kTxUsed = 0x5000;
inline constexpr uint64_t kRxTablesBegin = 0x6000, kRxTablesEnd = 0xa000;
inline constexpr uint64_t kTxTablesBegin = 0xa000, kTxTablesEnd = 0x10000;
inline constexpr uint64_t kRxDataBegin = 0x10000, kRxDataEnd = 0x60000;
inline constexpr uint64_t kTxDataBegin = 0x60000, kTxDataEnd = kMemorySize;
inline constexpr uint8_t kMaxSizeLog2 = 8;
inline constexpr uint8_t kMaxPieces = 4;
inline constexpr uint16_t kMaxSmallPiece = 128;
inline constexpr uint32_t kMaxPiece = 0x10020;  // a little over the largest packet

enum Features : uint8_t {
  kMergeable = 1 << 0,
  kGuestCsum = 1 << 1,
  kGuestTso4 = 1 << 2,
  kGuestTso6 = 1 << 3,
  kEventIdx = 1 << 4,
  kIndirect = 1 << 5,
  kAllFeatures = (1 << 6) - 1,
};

enum Op : uint8_t {
  kRxChain = 0,
  kTxChain,
  kPeerPacket,
  kProcessRx,
  kProcessTx,
  kWrongIndex,
  kBreakRing,
  kReset,
  kLastOp = kReset,
};

}  // namespace net_tx
}  // namespace vmmd::fuzz

#endif  // VMMD_TESTS_FUZZ_VIRTIO_DEVICE_OPS_H_
