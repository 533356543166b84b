// Writes the seed corpora of the boot and device fuzzers (see BUILD: seed_corpus).
//   seed_gen KIND OUT_DIR SEED...
// writes OUT_DIR/SEED for each SEED, which must be one this file knows for KIND; anything
// else is an error, so a BUILD file and this generator cannot drift apart silently.
#include <asm/bootparam.h>
#include <elf.h>
#include <linux/virtio_blk.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "devices/virtio/net/net_header.h"
#include "tests/fuzz/fdp_encoder.h"
#include "tests/fuzz/image_builder.h"
#include "tests/fuzz/virtio_device_ops.h"
#include "tests/fuzz/virtqueue_ops.h"

namespace vmmd::fuzz {
namespace {

using Bytes = std::vector<uint8_t>;
using Seeds = std::map<std::string, std::function<Bytes()>>;

Bytes Concat(std::initializer_list<Bytes> parts) {
  Bytes all;
  for (const Bytes& part : parts) all.insert(all.end(), part.begin(), part.end());
  return all;
}

// --- elf: kernel images for elf_loader_fuzzer -------------------------------------------

Seeds ElfSeeds() {
  return {
      {"pvh_note.elf", [] { return PvhKernelElf(4); }},
      {"pvh_note_8_byte.elf", [] { return PvhKernelElf(8); }},
      // Two PT_LOADs like a vmlinux's text and data (virtual addresses in the kernel map,
      // e_entry given virtually so the loader translates it), and a GNU_STACK.
      {"vmlinux_like.elf",
       [] {
         return BuildElf(0xffffffff81000010,
                         {{PT_LOAD, 0x1000000, 0xffffffff81000000, 0, Bytes(512, 0xc3)},
                          {PT_LOAD, 0x1200000, 0xffffffff81200000, 0x10000, Bytes(128, 0x11)},
                          {PT_GNU_STACK, 0, 0, 0, {}}});
       }},
      // A segment that is all bss.
      {"bss_only.elf",
       [] { return BuildElf(0x200000, {{PT_LOAD, 0x200000, 0x200000, 0x4000, Bytes(16, 0xf4)}}); }},
      // The most program headers the loader accepts (64), most of them not loadable.
      {"many_headers.elf",
       [] {
         std::vector<ElfSegment> segments;
         for (int i = 0; i < 64; ++i) {
           const uint32_t type = i % 8 == 0 ? PT_LOAD : i % 8 == 1 ? PT_NOTE : PT_NULL;
           const uint64_t address = 0x100000 + i * 0x1000;
           segments.push_back({type, address, address, 0, Bytes(8, static_cast<uint8_t>(i))});
         }
         return BuildElf(0x100000, segments);
       }},
  };
}

// --- bzimage: images for bzimage_loader_fuzzer ------------------------------------------

Seeds BzImageSeeds() {
  return {
      {"relocatable_2_15.bzimage", [] { return BuildBzImage(BzImageHeader(), 3000); }},
      // Not relocatable: loaded at pref_address (16 MiB).
      {"fixed_pref_address.bzimage",
       [] {
         setup_header header = BzImageHeader();
         header.relocatable_kernel = 0;
         return BuildBzImage(header, 5000);
       }},
      // setup_sects 0 means 4.
      {"legacy_setup_sects.bzimage",
       [] {
         setup_header header = BzImageHeader();
         header.setup_sects = 0;
         return BuildBzImage(header, 700);
       }},
      // Protocol 2.12, whose header ends at 0x268 (the jump says so): the bytes after it are
      // setup code, not header fields.
      {"short_header_2_12.bzimage",
       [] {
         setup_header header = BzImageHeader();
         header.version = 0x020c;
         header.jump = 0xeb | ((0x268 - 0x202) << 8);
         return BuildBzImage(header, 1024);
       }},
      {"pvh_note.elf", [] { return PvhKernelElf(4); }},
  };
}

// --- pvh_note: note segment payloads for pvh_note_fuzzer --------------------------------

Seeds PvhNoteSeeds() {
  return {
      // As in a Linux vmlinux: a build id, Xen notes of other types, then the entry.
      {"linux_notes",
       [] {
         return Concat({ElfNote("GNU", 3, Bytes(20, 0xb1)),
                        ElfNote("Linux", 0x100, Le(0x060100, 4)),
                        ElfNote("Xen", 6, {'l', 'i', 'n', 'u', 'x', 0}),
                        ElfNote("Xen", 1, Le(0xffffffff81000000, 8)),
                        ElfNote("Xen", kPhys32EntryNote, Le(0x1000abc, 4))});
       }},
      {"entry_8_byte", [] { return ElfNote("Xen", kPhys32EntryNote, Le(0x1234560, 8)); }},
      {"no_entry",
       [] { return Concat({ElfNote("GNU", 3, Bytes(20, 0xb1)), ElfNote("Xen", 1, Le(0x1000000, 8))}); }},
      // Notes without names, and one whose name is not "Xen" with the entry's type.
      {"empty_names",
       [] {
         return Concat({ElfNote("", 1, {}), ElfNote("", 2, Bytes(3, 7)),
                        ElfNote("Xe", kPhys32EntryNote, Le(0x2000000, 4))});
       }},
      // The entry as the last of many notes (the parser allows 256).
      {"entry_after_many",
       [] {
         Bytes notes;
         for (int i = 0; i < 200; ++i) {
           const Bytes note = ElfNote("Xen", 100 + i, Bytes(i % 9, static_cast<uint8_t>(i)));
           notes.insert(notes.end(), note.begin(), note.end());
         }
         const Bytes entry = ElfNote("Xen", kPhys32EntryNote, Le(0x1000000, 4));
         notes.insert(notes.end(), entry.begin(), entry.end());
         return notes;
       }},
  };
}

// --- boot_structures: FuzzedDataProvider inputs for boot_structures_fuzzer -------------
// In the order boot_structures_fuzzer.cc consumes them.

constexpr uint64_t kPage = 4096;
constexpr uint64_t kMaxPages = (uint64_t{5} << 30) / kPage;
constexpr uint32_t kMaxInitrd = 4 << 20;
constexpr uint32_t kMaxCmdline = 0x10000 + 16;

struct BootParams {
  uint64_t memory = 128 << 20;
  uint32_t vcpus = 1;
  bool pvh = false;
  bool has_header = false;
  uint32_t initrd = 0;
  uint64_t kernel_end = 0x200000;
  uint32_t cmdline_size = 0;
  uint32_t mp_vcpus = 1;
  std::string cmdline_pattern = "console=ttyS0 reboot=k panic=-1 ";
  // The header's own ramdisk fields (the loader's to write: boot.rst "write (obligatory)").
  uint32_t header_ramdisk_image = 0;
  uint32_t header_ramdisk_size = 0;
};

Bytes EncodeBoot(const BootParams& params) {
  FdpEncoder encoder;
  encoder.IntegralInRange<uint64_t>(1, kMaxPages, params.memory / kPage);
  encoder.IntegralInRange<uint32_t>(0, 300, params.vcpus);
  encoder.Bool(params.pvh);
  encoder.Bool(params.has_header);
  encoder.IntegralInRange<uint32_t>(0, kMaxInitrd, params.initrd);
  encoder.IntegralInRange<uint64_t>(0, uint64_t{1} << 32, params.kernel_end);
  encoder.IntegralInRange<uint32_t>(0, kMaxCmdline, params.cmdline_size);
  encoder.Integral<uint32_t>(params.mp_vcpus);
  if (params.has_header) {
    setup_header header = BzImageHeader();
    header.ramdisk_image = params.header_ramdisk_image;
    header.ramdisk_size = params.header_ramdisk_size;
    Bytes bytes(sizeof(header));
    std::memcpy(bytes.data(), &header, sizeof(header));
    encoder.Bytes(bytes);
  }
  encoder.Bytes(params.cmdline_pattern);
  return encoder.Finish();
}

Seeds BootStructuresSeeds() {
  return {
      {"linux64_128m",
       [] {
         BootParams params;
         params.vcpus = 2;
         params.cmdline_size = 23;
         params.mp_vcpus = 2;
         return EncodeBoot(params);
       }},
      {"pvh_4g_initrd",
       [] {
         BootParams params;
         params.memory = uint64_t{4} << 30;
         params.vcpus = 4;
         params.pvh = true;
         params.initrd = 1 << 20;
         params.kernel_end = 0x2000000;
         params.cmdline_size = 40;
         params.mp_vcpus = 4;
         return EncodeBoot(params);
       }},
      {"bzimage_header",
       [] {
         BootParams params;
         params.memory = 512 << 20;
         params.has_header = true;
         params.initrd = 64 << 10;
         params.kernel_end = 0x1800000;
         params.cmdline_size = 2047;  // the header's cmdline_size: exactly fits
         params.mp_vcpus = 254;
         return EncodeBoot(params);
       }},
      // A bzImage header that claims a ramdisk although there is none: the zero page must
      // say none (the fuzzer's first find: the header's fields used to reach the kernel).
      {"bzimage_header_stale_ramdisk",
       [] {
         BootParams params;
         params.has_header = true;
         params.header_ramdisk_image = 0x3000000;
         params.header_ramdisk_size = 0x100000;
         params.cmdline_size = 23;
         return EncodeBoot(params);
       }},
      {"max_vcpus_longest_cmdline",
       [] {
         BootParams params;
         params.memory = 64 << 20;
         params.vcpus = 254;
         params.cmdline_size = 0xffff;  // 64 KiB with the NUL
         params.mp_vcpus = 255;
         params.cmdline_pattern = "a";
         return EncodeBoot(params);
       }},
      {"tiny_memory",
       [] {
         BootParams params;
         params.memory = 16 * kPage;
         params.cmdline_size = 8;
         params.mp_vcpus = 0;
         return EncodeBoot(params);
       }},
      {"cmdline_one_too_long",
       [] {
         BootParams params;
         params.memory = 32 << 20;
         params.cmdline_size = 0x10000;
         params.cmdline_pattern = "x";
         return EncodeBoot(params);
       }},
  };
}

// --- serial: operation sequences for serial_fuzzer --------------------------------------
// In the format serial_fuzzer.cc documents.

class Ops {
 public:
  Ops& Com1(bool write, uint8_t offset, uint32_t value = 0, uint8_t size_index = 0) {
    encoder_.IntegralInRange<uint8_t>(0, 4, 0).Bool(write).IntegralInRange<uint8_t>(0, 7, offset);
    encoder_.IntegralInRange<uint8_t>(0, 2, size_index);
    if (write) encoder_.Integral<uint32_t>(value);
    return *this;
  }
  Ops& Input(uint16_t count, uint8_t first) {
    encoder_.IntegralInRange<uint8_t>(0, 4, 1).IntegralInRange<uint16_t>(0, 5000, count);
    encoder_.Integral<uint8_t>(first);
    return *this;
  }
  Ops& I8042(bool write, uint8_t offset, uint32_t value = 0, uint8_t size_index = 0) {
    encoder_.IntegralInRange<uint8_t>(0, 4, 2).Bool(write).IntegralInRange<uint8_t>(0, 4, offset);
    encoder_.IntegralInRange<uint8_t>(0, 2, size_index);
    if (write) encoder_.Integral<uint32_t>(value);
    return *this;
  }
  Ops& Port(bool write, uint16_t port, uint32_t value = 0, uint8_t size_index = 0) {
    encoder_.IntegralInRange<uint8_t>(0, 4, 3).Bool(write).Integral<uint16_t>(port);
    encoder_.IntegralInRange<uint8_t>(0, 2, size_index);
    if (write) encoder_.Integral<uint32_t>(value);
    return *this;
  }
  Ops& Probe(uint16_t base, uint16_t length) {
    encoder_.IntegralInRange<uint8_t>(0, 4, 4).Integral<uint16_t>(base).Integral<uint16_t>(length);
    return *this;
  }
  Bytes Finish() const { return encoder_.Finish(); }

 private:
  FdpEncoder encoder_;
};

// Register offsets (PC16550D datasheet, "Register Summary").
constexpr uint8_t kThr = 0, kIer = 1, kIir = 2, kLcr = 3, kMcr = 4, kLsr = 5, kMsr = 6, kScr = 7;

Seeds SerialSeeds() {
  return {
      // What Linux's 8250 driver does at probe: scratch test, IER test, loopback test, FIFO
      // detection, divisor, THRE test; then it prints.
      {"linux_8250_probe",
       [] {
         Ops ops;
         ops.Com1(true, kScr, 0xa5).Com1(false, kScr).Com1(true, kIer, 0).Com1(false, kIer);
         ops.Com1(true, kIer, 0x0f).Com1(false, kIer).Com1(true, kIer, 0);
         ops.Com1(true, kMcr, 0x1a).Com1(false, kMsr).Com1(true, kMcr, 0x0b);
         ops.Com1(true, kIir, 0xe7).Com1(false, kIir).Com1(true, kIir, 0);
         ops.Com1(true, kLcr, 0x80).Com1(true, kThr, 1).Com1(true, kIer, 0).Com1(false, kThr);
         ops.Com1(true, kLcr, 0x03).Com1(true, kIer, 0x02).Com1(false, kIir).Com1(false, kIir);
         for (char c : std::string("Linux version 6.1\n")) {
           ops.Com1(false, kLsr).Com1(true, kThr, static_cast<uint8_t>(c));
         }
         ops.Com1(false, kIir).Com1(false, kLsr, 0, 2).Com1(false, kIer, 0, 1);
         return ops.Finish();
       }},
      // Loopback: bytes written come back; a full receiver overruns and raises line status.
      {"loopback_overrun",
       [] {
         Ops ops;
         ops.Com1(true, kIer, 0x0f).Com1(true, kMcr, 0x1f).Com1(false, kMsr);
         for (int i = 0; i < 8; ++i) ops.Com1(true, kThr, 0x41 + i);
         ops.Com1(false, kLsr).Com1(false, kThr).Com1(false, kIir);
         ops.Input(10, 0x30);  // disconnected in loopback: nothing queued
         ops.Com1(true, kIir, 0x03).Com1(false, kLsr).Com1(true, kMcr, 0x08);
         return ops.Finish();
       }},
      // Console input beyond the receiver's bound, read back with interrupts on.
      {"console_input",
       [] {
         Ops ops;
         ops.Com1(true, kIer, 0x05).Com1(true, kIir, 0x01).Input(4000, 0).Input(200, 7);
         ops.Com1(false, kIir).Com1(false, kLsr);
         for (int i = 0; i < 16; ++i) ops.Com1(false, kThr);
         ops.Com1(true, kIir, 0x03).Com1(false, kLsr).Com1(false, kIir);
         return ops.Finish();
       }},
      // Linux's i8042 probe (self test, command byte, interface tests), then a reset by 0xfe
      // and by the output port.
      {"i8042_probe_and_reset",
       [] {
         Ops ops;
         ops.I8042(false, 4).I8042(true, 4, 0xaa).I8042(false, 4).I8042(false, 0);
         ops.I8042(true, 4, 0x20).I8042(false, 0).I8042(true, 4, 0x60).I8042(true, 0, 0x47);
         ops.I8042(true, 4, 0xab).I8042(false, 0).I8042(true, 4, 0xd3).I8042(true, 0, 0x99);
         ops.I8042(false, 4).I8042(false, 0).I8042(false, 1, 0, 2).I8042(true, 4, 0xfe);
         ops.I8042(true, 4, 0xd1).I8042(true, 0, 0x02).I8042(false, 4, 0, 1);
         return ops.Finish();
       }},
      // Devices claiming ranges, clashing ones refused, accesses everywhere.
      {"bus_registrations",
       [] {
         Ops ops;
         ops.Probe(0x70, 2).Probe(0x71, 1).Probe(0x3f0, 0x10).Probe(0xfff0, 0x10).Probe(0xfff0, 0x11);
         ops.Probe(0x80, 0).Port(false, 0x70).Port(true, 0x71, 0x8f).Port(false, 0x80, 0, 2);
         ops.Port(false, 0xfffe, 0, 2).Port(true, 0x3ff, 0x12345678, 2).Port(false, 0x3fd);
         ops.Port(false, 0x64).Port(true, 0xcf8, 0x80000000, 2);
         return ops.Finish();
       }},
  };
}

// --- virtqueue: rings and descriptors for virtqueue_fuzzer ------------------------------
// In the format virtqueue_fuzzer.cc documents (constants in virtqueue_ops.h).

// Flags of struct virtq_desc (virtio 1.2 section 2.7.5; VRING_DESC_F_* in
// <linux/virtio_ring.h>) and avail->flags (2.7.6, VRING_AVAIL_F_NO_INTERRUPT).
constexpr uint8_t kNext = 1, kWrite = 2, kIndirect = 4;
constexpr uint16_t kNoInterrupt = 1;

struct QueueSetup {
  uint16_t max_size = 256;
  uint16_t size = 16;  // encoded as a log2 when a power of two up to 1 << kMaxSizeLog2
  uint64_t desc = 0x1000, avail = 0x2000, used = 0x3000;
  bool event_idx = false, indirect = false;
  uint16_t start = 0;
  bool unlimited = true;
  uint32_t max_total_length = 0;
  uint32_t max_buffers = virtqueue::kMaxLimitBuffers;
};

class QueueOps {
 public:
  explicit QueueOps(const QueueSetup& setup) : size_(setup.size) {
    encoder_.IntegralInRange<uint16_t>(1, 32768, setup.max_size);
    int log2 = -1;
    for (int i = 0; i <= virtqueue::kMaxSizeLog2; ++i) {
      if (setup.size == (1u << i)) log2 = i;
    }
    encoder_.Bool(log2 < 0);
    if (log2 < 0) {
      encoder_.Integral<uint16_t>(setup.size);
    } else {
      encoder_.IntegralInRange<uint8_t>(0, virtqueue::kMaxSizeLog2, static_cast<uint8_t>(log2));
    }
    Address(setup.desc).Address(setup.avail).Address(setup.used);
    encoder_.IntegralInRange<uint8_t>(0, 3, (setup.event_idx ? 1 : 0) | (setup.indirect ? 2 : 0));
    encoder_.Integral<uint16_t>(setup.start).Bool(setup.unlimited);
    if (!setup.unlimited) {
      encoder_.IntegralInRange<uint32_t>(0, virtqueue::kMaxLimitLength, setup.max_total_length);
    }
    encoder_.IntegralInRange<uint32_t>(0, virtqueue::kMaxLimitBuffers, setup.max_buffers);
  }

  QueueOps& Desc(uint16_t index, uint64_t addr, uint32_t len, uint8_t flags = 0, uint16_t next = 0) {
    Op(virtqueue::kSetDescriptor).IntegralInRange<uint16_t>(0, size_ - 1, index);
    return Descriptor(addr, len, flags, next);
  }
  QueueOps& DescAt(uint16_t offset, uint64_t addr, uint32_t len, uint8_t flags = 0,
                   uint16_t next = 0) {
    Op(virtqueue::kWriteDescriptorAt)
        .IntegralInRange<uint16_t>(0, virtqueue::kMemorySize - 16, offset);
    return Descriptor(addr, len, flags, next);
  }
  QueueOps& Avail(uint16_t head) {
    Op(virtqueue::kMakeAvailable).IntegralInRange<uint16_t>(0, size_, head);
    return *this;
  }
  QueueOps& MoveIdx(uint16_t delta) {
    Op(virtqueue::kMoveAvailIdx).Integral<uint16_t>(delta);
    return *this;
  }
  QueueOps& DriverFields(uint16_t flags, uint16_t used_event) {
    Op(virtqueue::kSetDriverFields).Integral<uint16_t>(flags).Integral<uint16_t>(used_event);
    return *this;
  }
  QueueOps& Pop(uint16_t write_offset = 0, uint16_t write_length = 0, uint8_t pattern = 0) {
    Op(virtqueue::kPop)
        .IntegralInRange<uint16_t>(0, virtqueue::kMaxWriteBytes, write_offset)
        .IntegralInRange<uint16_t>(0, virtqueue::kMaxWriteBytes, write_length)
        .Integral<uint8_t>(pattern);
    return *this;
  }
  // Returns held chain `which` (the fuzzer picks which % held), whose writable length the
  // seed must state, having written `length` bytes.
  QueueOps& AddUsed(uint8_t which, uint32_t length, uint32_t writable_length) {
    Op(virtqueue::kAddUsed).Integral<uint8_t>(which);
    encoder_.IntegralInRange<uint32_t>(0, writable_length, length);
    return *this;
  }
  QueueOps& AddUsedNoneHeld() {
    Op(virtqueue::kAddUsed);
    return *this;
  }
  QueueOps& NeedsInterrupt() {
    Op(virtqueue::kNeedsInterrupt);
    return *this;
  }
  QueueOps& Snapshot() {
    Op(virtqueue::kSnapshot);
    return *this;
  }
  QueueOps& Patch(uint16_t offset, const Bytes& bytes) {
    Op(virtqueue::kPatch).Integral<uint16_t>(offset);
    encoder_.IntegralInRange<uint8_t>(0, virtqueue::kMaxPatchBytes, static_cast<uint8_t>(bytes.size()));
    encoder_.Bytes(bytes);
    return *this;
  }
  Bytes Finish() const { return encoder_.Finish(); }

 private:
  FdpEncoder& Op(virtqueue::Op op) {
    return encoder_.IntegralInRange<uint8_t>(0, virtqueue::kLastOp, op);
  }
  QueueOps& Address(uint64_t address) {
    const bool far = address > virtqueue::kMaxNearAddress;
    encoder_.Bool(far);
    if (far) {
      encoder_.Integral<uint64_t>(address);
    } else {
      encoder_.IntegralInRange<uint64_t>(0, virtqueue::kMaxNearAddress, address);
    }
    return *this;
  }
  QueueOps& Descriptor(uint64_t addr, uint32_t len, uint8_t flags, uint16_t next) {
    Address(addr);
    const bool big = len > virtqueue::kMaxNearLength;
    encoder_.Bool(big);
    if (big) {
      encoder_.Integral<uint32_t>(len);
    } else {
      encoder_.IntegralInRange<uint32_t>(0, virtqueue::kMaxNearLength, len);
    }
    encoder_.IntegralInRange<uint8_t>(0, 7, flags).IntegralInRange<uint16_t>(0, size_, next);
    return *this;
  }

  const uint16_t size_;
  FdpEncoder encoder_;
};

Seeds VirtqueueSeeds() {
  return {
      // A virtio-blk read: header (readable), data and status (writable); then a request
      // with the driver asking for no interrupt, and a snapshot.
      {"blk_request",
       [] {
         QueueOps ops{QueueSetup{}};
         ops.Desc(0, 0x8000, 16, kNext, 1).Desc(1, 0x9000, 512, kNext | kWrite, 2);
         ops.Desc(2, 0xa000, 1, kWrite).Avail(0).Pop(0, 513, 0x41).AddUsed(0, 513, 513);
         ops.DriverFields(kNoInterrupt, 0).Desc(3, 0x8100, 16).Avail(3).Pop().Snapshot();
         ops.AddUsed(0, 0, 0).NeedsInterrupt().Pop();
         return ops.Finish();
       }},
      // Event idx and an indirect table after a direct descriptor (2.7.5.3.2); the empty
      // pop arms avail_event.
      {"indirect_event_idx",
       [] {
         QueueSetup setup;
         setup.size = 8;
         setup.event_idx = setup.indirect = true;
         QueueOps ops(setup);
         ops.DescAt(0x6000, 0xb000, 64, kNext, 1).DescAt(0x6010, 0xc000, 128, kNext | kWrite, 2);
         ops.DescAt(0x6020, 0xd000, 4, kWrite).Desc(0, 0x8000, 8, kNext, 5);
         ops.Desc(5, 0x6000, 48, kIndirect).DriverFields(0, 0).Avail(0).Pop(16, 100, 7);
         ops.AddUsed(0, 132, 132).Pop().Avail(0).Pop(0, 132, 1).DriverFields(0, 5);
         ops.AddUsed(0, 1, 132).NeedsInterrupt();
         return ops.Finish();
       }},
      // Indices that wrap past 65535 in both rings, with used_event across the wrap.
      {"wraparound",
       [] {
         QueueSetup setup;
         setup.size = 4;
         setup.start = 65533;
         setup.event_idx = true;
         QueueOps ops(setup);
         for (uint16_t i = 0; i < 4; ++i) ops.Desc(i, 0x8000 + 0x100 * i, 0x100, kWrite).Avail(i);
         ops.DriverFields(0, 65535);
         for (int i = 0; i < 4; ++i) ops.Pop(0, 0x100, static_cast<uint8_t>(i));
         for (int i = 0; i < 4; ++i) ops.AddUsed(0, 0x80, 0x100);
         ops.Avail(2).Avail(1).Pop().Pop().AddUsed(1, 0, 0x100).Snapshot().AddUsed(0, 0, 0x100);
         return ops.Finish();
       }},
      // Chains a driver must not build: a loop, a wrapping buffer, one outside RAM, a next
      // index beyond the queue, readable after writable; each refused, then fixed.
      {"hostile_chains",
       [] {
         QueueOps ops{QueueSetup{}};
         ops.Desc(1, 0x8000, 16, kNext, 2).Desc(2, 0x8000, 16, kNext, 1).Avail(1).Pop();
         ops.Desc(2, 0x8000, 16, kNext, 16).Pop().Desc(2, 0xffff'ffff'ffff'fff0, 0x20).Pop();
         ops.Desc(2, 0xfff0, 0x20).Pop().Desc(1, 0x8000, 16, kWrite | kNext, 2);
         ops.Desc(2, 0x9000, 16).Pop().Desc(2, 0x9000, 16, kWrite).Pop(0, 32, 9);
         ops.AddUsed(0, 32, 32).Avail(16).Pop();
         return ops.Finish();
       }},
      // Indirect tables a driver must not build: nested, with NEXT, a bad length, outside
      // RAM, longer than the queue; and the feature not negotiated.
      {"hostile_indirect",
       [] {
         QueueSetup setup;
         setup.size = 4;
         setup.indirect = true;
         setup.unlimited = false;
         setup.max_total_length = 0x100;
         QueueOps ops(setup);
         ops.DescAt(0x6000, 0x8000, 16, kNext, 1).DescAt(0x6010, 0x6000, 32, kIndirect);
         ops.Desc(0, 0x6000, 32, kIndirect).Avail(0).Pop();
         ops.DescAt(0x6010, 0x8000, 16).Desc(0, 0x6000, 32, kIndirect | kNext, 1).Pop();
         ops.Desc(0, 0x6000, 24, kIndirect).Pop().Desc(0, 0xfff0, 32, kIndirect).Pop();
         ops.Desc(0, 0x6000, 80, kIndirect).Pop().Desc(0, 0x8000, 0x101).Pop();
         ops.Desc(0, 0x6000, 32, kIndirect).Pop(0, 0, 0).AddUsed(0, 0, 0);
         return ops.Finish();
       }},
      // avail->idx running more than the queue size ahead, then back; a full queue in
      // flight; AddUsed with nothing held.
      {"avail_jump",
       [] {
         QueueSetup setup;
         setup.size = 2;
         QueueOps ops(setup);
         ops.AddUsedNoneHeld().MoveIdx(3).Pop().MoveIdx(65533).Pop();
         ops.Desc(0, 0x8000, 8).Desc(1, 0x8008, 8).Avail(0).Avail(1).Pop().Pop().Avail(0).Pop();
         ops.AddUsed(1, 0, 0).Pop().Patch(0x2002, {0x40, 0x00}).Pop();
         return ops.Finish();
       }},
      // Ring layouts SetReady refuses: a misaligned used ring.
      {"misaligned_used_ring",
       [] {
         QueueSetup setup;
         setup.used = 0x3002;
         return QueueOps(setup).Finish();
       }},
      // The largest queue 64 KiB of RAM holds, with its rings overlapping.
      {"large_overlapping",
       [] {
         QueueSetup setup;
         setup.max_size = 32768;
         setup.size = 4096;
         setup.desc = 0;
         setup.avail = 0;
         setup.used = 0x7ff8;  // 6 + 8 * 4096 bytes, up to 2 bytes before the end of RAM
         QueueOps ops(setup);
         ops.Desc(2, 0x9000, 0x100, kWrite).Avail(2).Pop(0, 0x100, 3).AddUsed(0, 0x100, 0x100);
         return ops.Finish();
       }},
  };
}

// --- virtio-blk requests, as mmio_transport_fuzzer and block_request_fuzzer read them -----
// In the format virtio_device_ops.h documents (namespace request).

struct RequestSeed {
  uint8_t type_choice = request::kIn;
  uint32_t raw_type = 0;  // with kRawType
  bool raw_sector = false;
  uint64_t sector = 0;
  uint8_t header_length = 16;
  bool raw_data = false;
  uint32_t data_length = 0;  // bytes; a multiple of 512 unless raw_data
  bool data_writable = true;
  uint8_t status_length = 1;
  std::vector<uint32_t> readable_cuts;  // ascending
  std::vector<uint32_t> writable_cuts;
  bool indirect = false;
  uint8_t gap = 0;
  uint8_t pattern = 0;

  uint32_t readable_length() const { return header_length + (data_writable ? 0 : data_length); }
  uint32_t writable_length() const { return (data_writable ? data_length : 0) + status_length; }
};

// The usual framings, as Linux's virtio_blk builds them: header, data, status in their own
// descriptors.
RequestSeed ReadRequest(uint64_t sector, uint32_t sectors) {
  RequestSeed r;
  r.sector = sector;
  r.data_length = 512 * sectors;
  r.writable_cuts = {r.data_length};
  return r;
}
RequestSeed WriteRequest(uint64_t sector, uint32_t sectors, uint8_t pattern) {
  RequestSeed r;
  r.type_choice = request::kOut;
  r.sector = sector;
  r.data_length = 512 * sectors;
  r.data_writable = false;
  r.readable_cuts = {16};
  r.pattern = pattern;
  return r;
}
RequestSeed FlushRequest() {
  RequestSeed r;
  r.type_choice = request::kFlush;
  return r;
}
RequestSeed GetIdRequest(uint32_t length = 20) {
  RequestSeed r;
  r.type_choice = request::kGetId;
  r.raw_data = true;
  r.data_length = length;
  r.writable_cuts = {length};
  return r;
}
RequestSeed RawTypeRequest(uint32_t type) {
  RequestSeed r;
  r.type_choice = request::kRawType;
  r.raw_type = type;
  return r;
}
RequestSeed Indirect(RequestSeed r) {
  r.indirect = true;
  return r;
}

void EncodeCuts(FdpEncoder& encoder, const std::vector<uint32_t>& cuts, uint32_t length) {
  encoder.IntegralInRange<uint8_t>(1, request::kMaxPieces, static_cast<uint8_t>(cuts.size() + 1));
  for (uint32_t cut : cuts) encoder.IntegralInRange<uint32_t>(0, length, cut);
}

void EncodeRequest(FdpEncoder& encoder, const RequestSeed& r) {
  encoder.IntegralInRange<uint8_t>(0, request::kLastType, r.type_choice);
  if (r.type_choice == request::kRawType) encoder.Integral<uint32_t>(r.raw_type);
  encoder.Bool(r.raw_sector);
  if (r.raw_sector) {
    encoder.Integral<uint64_t>(r.sector);
  } else {
    encoder.IntegralInRange<uint16_t>(0, request::kMaxNearSector, static_cast<uint16_t>(r.sector));
  }
  encoder.Bool(r.header_length != 16);
  if (r.header_length != 16) encoder.IntegralInRange<uint8_t>(0, 15, r.header_length);
  encoder.Bool(r.raw_data);
  if (r.raw_data) {
    encoder.IntegralInRange<uint32_t>(0, request::kMaxRawDataLength, r.data_length);
  } else {
    encoder.IntegralInRange<uint8_t>(0, request::kMaxDataSectors,
                                     static_cast<uint8_t>(r.data_length / 512));
  }
  encoder.Bool(r.data_writable);
  encoder.IntegralInRange<uint8_t>(0, request::kMaxStatusLength, r.status_length);
  EncodeCuts(encoder, r.readable_cuts, r.readable_length());
  EncodeCuts(encoder, r.writable_cuts, r.writable_length());
  encoder.Bool(r.indirect).Integral<uint8_t>(r.gap).Integral<uint8_t>(r.pattern);
}

// --- mmio_transport: driver sessions for mmio_transport_fuzzer --------------------------
// In the format mmio_transport_fuzzer.cc documents (constants in virtio_device_ops.h).

namespace mt = ::vmmd::fuzz::mmio_transport;

// virtio-mmio registers (virtio 1.2 section 4.2.2) and status bits (2.1) the seeds use.
constexpr uint16_t kRegStatus = 0x070, kRegQueueSel = 0x030, kRegQueueNumMax = 0x034,
                   kRegQueueReady = 0x044, kRegInterruptStatus = 0x060, kRegDeviceFeatures = 0x010,
                   kRegDeviceFeaturesSel = 0x014, kRegConfigGeneration = 0x0fc,
                   kRegShmLenLow = 0x0b0, kRegShmSel = 0x0ac;
constexpr uint8_t kStatusFailedBit = 7, kStatusDriverOkBit = 2;

class TransportOps {
 public:
  explicit TransportOps(mt::Mode mode) {
    encoder_.IntegralInRange<uint8_t>(0, mt::kLastMode, mode);
  }

  // kInit; `size` is queue 0's size afterwards (what ranges of later operands use).
  TransportOps& Init(uint8_t flags = 0, uint8_t log2 = 8, mt::Layout layout = mt::kStandard,
                     uint64_t desc = 0, uint64_t avail = 0, uint64_t used = 0) {
    Op(mt::kInit).Integral<uint8_t>(flags);
    encoder_.IntegralInRange<uint8_t>(0, mt::kMaxSizeLog2, log2);
    encoder_.IntegralInRange<uint8_t>(0, mt::kLastLayout, layout);
    if (layout == mt::kRawLayout) Address(desc).Address(avail).Address(used);
    // A queue that did not get configured keeps its maximum (256).
    const bool configured =
        !(flags & (mt::kDropVersion1 | mt::kAddUnoffered | mt::kStopAtFeatures));
    size_ = configured ? static_cast<uint16_t>(1u << log2) : 256;
    return *this;
  }
  TransportOps& WriteReg(uint16_t offset, uint32_t value, uint8_t width = 4) {
    Op(mt::kWriteRegister);
    Register(offset).Width(width);
    encoder_.IntegralInRange<uint8_t>(0, mt::kLastValueKind, mt::kValue32)
        .Integral<uint32_t>(value);
    return *this;
  }
  // A read-modify-write setting `bit`.
  TransportOps& SetRegBit(uint16_t offset, uint8_t bit) {
    Op(mt::kWriteRegister);
    Register(offset).Width(4);
    encoder_.IntegralInRange<uint8_t>(0, mt::kLastValueKind, mt::kReadOrBit);
    encoder_.IntegralInRange<uint8_t>(0, 31, bit);
    return *this;
  }
  TransportOps& ReadReg(uint16_t offset, uint8_t width = 4) {
    Op(mt::kReadRegister);
    Register(offset).Width(width);
    return *this;
  }
  TransportOps& ReadConfig(uint16_t offset, uint8_t width) {
    Op(mt::kReadConfig).IntegralInRange<uint16_t>(0, mt::kMaxConfigOffset, offset);
    encoder_.IntegralInRange<uint8_t>(1, 8, width);
    return *this;
  }
  TransportOps& WriteConfig(uint16_t offset, uint8_t width, uint64_t value) {
    Op(mt::kWriteConfig).IntegralInRange<uint16_t>(0, mt::kMaxConfigOffset, offset);
    encoder_.IntegralInRange<uint8_t>(1, 8, width).Integral<uint64_t>(value);
    return *this;
  }
  TransportOps& Desc(uint16_t index, uint64_t addr, uint32_t len, uint8_t flags = 0,
                     uint16_t next = 0) {
    Op(mt::kSetDescriptor).IntegralInRange<uint16_t>(0, size_ - 1, index);
    return Descriptor(addr, len, flags, next);
  }
  TransportOps& Avail(uint16_t head) {
    Op(mt::kMakeAvailable).IntegralInRange<uint16_t>(0, size_, head);
    return *this;
  }
  TransportOps& MoveIdx(uint16_t delta) {
    Op(mt::kMoveAvailIdx).Integral<uint16_t>(delta);
    return *this;
  }
  TransportOps& DriverFields(uint16_t flags, uint16_t used_event) {
    Op(mt::kSetDriverFields).Integral<uint16_t>(flags).Integral<uint16_t>(used_event);
    return *this;
  }
  TransportOps& Request(const RequestSeed& r) {
    Op(mt::kRequest);
    EncodeRequest(encoder_, r);
    return *this;
  }
  TransportOps& Patch(uint32_t offset, const Bytes& bytes) {
    Op(mt::kPatch).IntegralInRange<uint32_t>(0, mt::kMemorySize - 1, offset);
    encoder_.IntegralInRange<uint8_t>(0, mt::kMaxPatchBytes, static_cast<uint8_t>(bytes.size()));
    encoder_.Bytes(bytes);
    return *this;
  }
  TransportOps& Process(uint8_t index = 0) {
    Op(mt::kProcessQueue).IntegralInRange<uint8_t>(0, 2, index);
    return *this;
  }
  TransportOps& Notify(uint8_t index = 0) {
    Op(mt::kNotify).IntegralInRange<uint8_t>(0, 2, index);
    return *this;
  }
  TransportOps& EventLoop() {
    Op(mt::kRunEventLoop);
    return *this;
  }
  // InterruptACK of what InterruptStatus shows.
  TransportOps& Ack() {
    Op(mt::kInterruptAck).Bool(true);
    return *this;
  }
  TransportOps& AckValue(uint8_t value) {
    Op(mt::kInterruptAck).Bool(false).Integral<uint8_t>(value);
    return *this;
  }
  TransportOps& Reset() {
    Op(mt::kReset);
    return *this;
  }
  TransportOps& Snapshot() {
    Op(mt::kSnapshot);
    return *this;
  }
  Bytes Finish() const { return encoder_.Finish(); }

 private:
  FdpEncoder& Op(mt::Op op) { return encoder_.IntegralInRange<uint8_t>(0, mt::kLastOp, op); }
  TransportOps& Register(uint16_t offset) {
    for (uint8_t i = 0; i < mt::kRegisterCount; ++i) {
      if (mt::kRegisters[i] == offset) {
        encoder_.Bool(true).IntegralInRange<uint8_t>(0, mt::kRegisterCount - 1, i);
        return *this;
      }
    }
    encoder_.Bool(false).IntegralInRange<uint16_t>(0, mt::kMaxRegisterOffset, offset);
    return *this;
  }
  TransportOps& Width(uint8_t width) {
    encoder_.Bool(width == 4);
    if (width != 4) encoder_.IntegralInRange<uint8_t>(1, 8, width);
    return *this;
  }
  TransportOps& Address(uint64_t address) {
    const bool far = address > mt::kMaxNearAddress;
    encoder_.Bool(far);
    if (far) {
      encoder_.Integral<uint64_t>(address);
    } else {
      encoder_.IntegralInRange<uint64_t>(0, mt::kMaxNearAddress, address);
    }
    return *this;
  }
  TransportOps& Descriptor(uint64_t addr, uint32_t len, uint8_t flags, uint16_t next) {
    Address(addr);
    const bool big = len > mt::kMaxNearLength;
    encoder_.Bool(big);
    if (big) {
      encoder_.Integral<uint32_t>(len);
    } else {
      encoder_.IntegralInRange<uint32_t>(0, mt::kMaxNearLength, len);
    }
    encoder_.IntegralInRange<uint8_t>(0, 7, flags).IntegralInRange<uint16_t>(0, size_, next);
    return *this;
  }

  uint16_t size_ = 256;
  FdpEncoder encoder_;
};

Seeds MmioTransportSeeds() {
  return {
      // The whole life of a virtio-blk drive as Linux drives it: negotiation, a 256-entry
      // queue, a write, a read of it back, a flush and GET_ID in one kick; the interrupt
      // acknowledged; a snapshot restored into a new transport, which serves a read of the
      // last sector on a spurious wake-up; a reset.
      {"blk_read_write_flush_get_id",
       [] {
         TransportOps ops(mt::kBlockReadWrite);
         ops.Init().Request(WriteRequest(2, 2, 0x30)).Request(ReadRequest(2, 2));
         ops.Request(FlushRequest()).Request(GetIdRequest()).Notify().Ack().Snapshot();
         ops.Request(ReadRequest(127, 1)).Process().ReadReg(kRegInterruptStatus).Ack().Reset();
         return ops.Finish();
       }},
      // A read-only drive on a read-only fd: VIRTIO_BLK_F_RO offered, the write refused
      // (IOERR), the rest served.
      {"blk_read_only_fd",
       [] {
         TransportOps ops(mt::kBlockReadOnlyFd);
         ops.Init(0, 4).Request(WriteRequest(0, 1, 0x11)).Request(ReadRequest(0, 4));
         ops.Request(FlushRequest()).Request(GetIdRequest()).Notify().Ack();
         return ops.Finish();
       }},
      // A read-only drive on a read-write fd: only the device refuses the writes.
      {"blk_read_only_write_refused",
       [] {
         TransportOps ops(mt::kBlockReadOnly);
         ops.Init(0, 5).Request(WriteRequest(0, 8, 0x22)).Request(WriteRequest(120, 8, 0x23));
         ops.Request(ReadRequest(0, 8)).Request(FlushRequest()).Request(GetIdRequest(8));
         ops.Notify().Ack();
         return ops.Finish();
       }},
      // An image with a tail short of a sector; event idx with used_event; the queue at the
      // top of RAM; reads at the last sector and one past it.
      {"blk_odd_tail_event_idx",
       [] {
         TransportOps ops(mt::kBlockOddTail);
         ops.Init(0, 3, mt::kTopOfRam).DriverFields(0, 2).Request(ReadRequest(127, 1));
         ops.Request(ReadRequest(128, 1)).Request(WriteRequest(127, 1, 0x44));
         ops.Request(FlushRequest()).Request(GetIdRequest(10)).Notify().Ack();
         ops.Request(ReadRequest(126, 2)).EventLoop().Notify().Ack();
         return ops.Finish();
       }},
      // Indirect tables, a legacy-style packed ring layout, a write in four pieces.
      {"blk_indirect_packed_layout",
       [] {
         TransportOps ops(mt::kBlockReadWrite);
         ops.Init(0, 6, mt::kPacked).Request(Indirect(ReadRequest(4, 4)));
         RequestSeed write = Indirect(WriteRequest(8, 4, 0x55));
         write.readable_cuts = {16, 600, 1500};
         ops.Request(write).Request(Indirect(FlushRequest())).Request(Indirect(GetIdRequest()));
         ops.DriverFields(1, 0).Notify().Ack();
         return ops.Finish();
       }},
      // Broken rings: a head beyond the queue, then an indirect chain without the feature;
      // each puts the device into DEVICE_NEEDS_RESET (kept across a snapshot); the driver
      // resets and starts over.
      {"blk_broken_ring_then_reset",
       [] {
         TransportOps ops(mt::kBlockReadWrite);
         ops.Init(0, 3).Request(ReadRequest(0, 1)).Avail(8).Notify().ReadReg(kRegStatus);
         ops.Snapshot().Ack();
         ops.Request(ReadRequest(1, 1)).Notify().Reset().Init(mt::kDropIndirect, 3);
         ops.Request(Indirect(ReadRequest(0, 1))).Notify().Ack().Reset().Init(0, 3);
         ops.Request(ReadRequest(0, 1)).Request(GetIdRequest()).Notify().Ack();
         return ops.Finish();
       }},
      // Negotiations the transport refuses (no VERSION_1, a feature never offered), one done
      // in fewer status writes without a reset, and one finished by hand.
      {"blk_refused_negotiation",
       [] {
         TransportOps ops(mt::kBlockReadWrite);
         ops.Init(mt::kDropVersion1).Init(mt::kAddUnoffered);
         ops.Init(mt::kOneWriteDriver | mt::kNoReset, 4);
         ops.Init(mt::kStopBeforeLive, 4).Request(ReadRequest(5, 1)).Notify();
         ops.SetRegBit(kRegStatus, kStatusDriverOkBit).Request(WriteRequest(5, 1, 0x66));
         ops.Request(FlushRequest()).Request(GetIdRequest()).EventLoop().Notify().Ack();
         ops.SetRegBit(kRegStatus, kStatusFailedBit).Reset();
         return ops.Finish();
       }},
      // Every register at widths 1, 2, 4 and 8 and misaligned; the configuration space
      // byte by byte and wide; writes the transport ignores; then a session.
      {"blk_registers_and_config",
       [] {
         TransportOps ops(mt::kBlockReadWrite);
         for (uint16_t offset : mt::kRegisters) ops.ReadReg(offset);
         ops.ReadReg(0x000, 1).ReadReg(0x002, 2).ReadReg(0x070, 8).ReadReg(0x071, 4);
         ops.ReadReg(0x0f0).ReadReg(0x0c0);
         for (uint16_t offset = 0; offset < 0x40; ++offset) ops.ReadConfig(offset, 1);
         ops.ReadConfig(0, 8).ReadConfig(12, 4).ReadConfig(20, 4).ReadConfig(0x3c, 8);
         ops.WriteConfig(0, 8, 0x1234).WriteConfig(0x20, 1, 1);
         ops.WriteReg(0x000, 1).WriteReg(0x071, 1);
         ops.WriteReg(kRegStatus, 1, 1).WriteReg(kRegShmSel, 0).ReadReg(kRegShmLenLow);
         ops.WriteReg(kRegQueueSel, 1).ReadReg(kRegQueueNumMax).ReadReg(kRegQueueReady);
         ops.WriteReg(kRegDeviceFeaturesSel, 2).ReadReg(kRegDeviceFeatures);
         ops.ReadReg(kRegConfigGeneration).AckValue(3).WriteReg(kRegQueueSel, 0);
         ops.Init().Request(ReadRequest(0, 1)).Request(GetIdRequest()).Notify().Ack();
         return ops.Finish();
       }},
      // virtio-rng: buffers of 64 bytes, a page, and more than the 64 KiB given per request.
      {"rng_requests",
       [] {
         TransportOps ops(mt::kEntropy);
         RequestSeed small = RawTypeRequest(0);
         small.header_length = 0;
         small.status_length = 0;
         small.raw_data = true;
         small.data_length = 64;
         RequestSeed page = small;
         page.data_length = 4096;
         page.writable_cuts = {1000, 2000};
         RequestSeed huge = small;
         huge.data_length = 0x12000;
         ops.Init(0, 5).Request(small).Request(page).Request(huge).Notify().Ack();
         ops.Request(Indirect(page)).Notify().Ack();
         return ops.Finish();
       }},
  };
}

// --- block_request: request streams for block_request_fuzzer ----------------------------
// In the format block_request_fuzzer.cc documents (constants in virtio_device_ops.h).

namespace br = ::vmmd::fuzz::block_request;

class BlockOps {
 public:
  BlockOps(br::Mode mode, uint8_t size_log2, bool event_idx, bool indirect,
           uint8_t id_length = 20) {
    encoder_.IntegralInRange<uint8_t>(0, br::kLastMode, mode);
    encoder_.IntegralInRange<uint8_t>(0, br::kMaxSizeLog2, size_log2);
    encoder_.IntegralInRange<uint8_t>(0, 3, (event_idx ? 1 : 0) | (indirect ? 2 : 0));
    encoder_.IntegralInRange<uint8_t>(0, 20, id_length);
  }
  BlockOps& Request(const RequestSeed& r) {
    Op(br::kRequest);
    EncodeRequest(encoder_, r);
    return *this;
  }
  BlockOps& Process() {
    Op(br::kProcess);
    return *this;
  }
  BlockOps& WrongIndex(uint8_t index) {
    Op(br::kWrongIndex).IntegralInRange<uint8_t>(1, 255, index);
    return *this;
  }
  BlockOps& BreakRing(bool jump, uint8_t extra = 0) {
    Op(br::kBreakRing).Bool(jump).Integral<uint8_t>(extra);
    return *this;
  }
  Bytes Finish() const { return encoder_.Finish(); }

 private:
  FdpEncoder& Op(br::Op op) { return encoder_.IntegralInRange<uint8_t>(0, br::kLastOp, op); }
  FdpEncoder encoder_;
};

Seeds BlockRequestSeeds() {
  return {
      // Write, read back, flush, GET_ID; then the last sectors.
      {"read_write_flush_get_id",
       [] {
         BlockOps ops(br::kReadWrite, 8, false, false);
         ops.Request(WriteRequest(0, 8, 0x10)).Request(ReadRequest(0, 8)).Request(FlushRequest());
         ops.Request(GetIdRequest()).Process().Request(ReadRequest(127, 1));
         ops.Request(WriteRequest(120, 8, 0x20)).Request(ReadRequest(118, 10)).Process();
         return ops.Finish();
       }},
      // VIRTIO_BLK_F_RO: writes refused with IOERR, the image untouched; a short id.
      {"read_only",
       [] {
         BlockOps ops(br::kReadOnly, 4, false, false, 7);
         ops.Request(WriteRequest(0, 1, 0x33)).Request(ReadRequest(0, 2)).Request(FlushRequest());
         ops.Request(GetIdRequest()).Process();
         return ops.Finish();
       }},
      // The edges of the capacity on an image with an odd tail: the last sector, one past it,
      // a far sector whose byte offset overflows, a write across the end, a length that is
      // not whole sectors, and an empty read at the capacity.
      {"odd_tail_edges",
       [] {
         BlockOps ops(br::kOddTail, 8, false, false);
         ops.Request(ReadRequest(127, 1)).Request(ReadRequest(128, 1));
         RequestSeed far = ReadRequest(0, 1);
         far.raw_sector = true;
         far.sector = uint64_t{1} << 55;
         ops.Request(far).Request(WriteRequest(126, 4, 0x77));
         RequestSeed partial = ReadRequest(0, 0);
         partial.raw_data = true;
         partial.data_length = 300;
         partial.writable_cuts = {300};
         ops.Request(partial).Request(ReadRequest(128, 0)).Request(WriteRequest(127, 1, 0x78));
         ops.Process();
         return ops.Finish();
       }},
      // Indirect tables and event idx: an empty ring arms avail_event.
      {"indirect_event_idx",
       [] {
         BlockOps ops(br::kReadWrite, 3, true, true);
         ops.Request(Indirect(ReadRequest(3, 2))).Request(Indirect(WriteRequest(3, 1, 0x5a)));
         ops.Request(Indirect(GetIdRequest())).Process().Process().Request(ReadRequest(3, 1));
         ops.Request(Indirect(FlushRequest())).Process();
         return ops.Finish();
       }},
      // Framings: the header split across descriptors, the data in four pieces, empty
      // descriptors, a two-byte status area after a write (the status is its last byte),
      // a read whose data and status share a descriptor, a header that runs into the data,
      // and gaps between requests.
      {"framings",
       [] {
         BlockOps ops(br::kReadWrite, 8, false, true);
         RequestSeed write = WriteRequest(10, 4, 0x90);
         write.readable_cuts = {3, 10, 1000};
         write.status_length = 2;
         write.writable_cuts = {1};
         write.gap = 3;
         RequestSeed read = ReadRequest(10, 4);
         read.writable_cuts = {0, 0, 2048};
         read.gap = 200;
         RequestSeed merged = ReadRequest(10, 1);
         merged.readable_cuts = {};
         merged.writable_cuts = {};
         RequestSeed short_header = WriteRequest(10, 1, 0x01);
         short_header.header_length = 8;
         ops.Request(write).Request(read).Request(merged).Request(short_header).Process();
         return ops.Finish();
       }},
      // Rings the driver broke: a head beyond the queue after a good request (served, then
      // DEVICE_NEEDS_RESET), an indirect table longer than the queue, avail->idx far ahead,
      // a queue index the device does not have.
      {"broken_ring",
       [] {
         BlockOps ops(br::kReadWrite, 2, false, true);
         ops.Request(ReadRequest(0, 1)).BreakRing(false).Process().WrongIndex(1);
         RequestSeed long_table = Indirect(WriteRequest(0, 2, 0x3c));
         long_table.readable_cuts = {4, 8, 16};
         long_table.writable_cuts = {};
         ops.Request(long_table).Process().Request(ReadRequest(1, 1)).Process();
         ops.BreakRing(true, 3).Process().Request(GetIdRequest()).Process();
         return ops.Finish();
       }},
      // Requests that are no request or not supported: DISCARD, an unknown type, a chain
      // without a full header, one without anything writable, a GET_ID into 4 bytes.
      {"unsupported_and_short",
       [] {
         BlockOps ops(br::kReadWrite, 8, false, false);
         ops.Request(RawTypeRequest(VIRTIO_BLK_T_DISCARD)).Request(RawTypeRequest(0xffffffff));
         RequestSeed headless = FlushRequest();
         headless.header_length = 10;
         RequestSeed mute = WriteRequest(0, 1, 0x42);
         mute.status_length = 0;
         ops.Request(headless).Request(mute).Request(GetIdRequest(4)).Process();
         return ops.Finish();
       }},
  };
}

// --- net_tx: packet streams for net_tx_fuzzer -------------------------------------------
// In the format net_tx_fuzzer.cc documents (constants in virtio_device_ops.h).

namespace nt = ::vmmd::fuzz::net_tx;

// A packet length as ConsumeLength reads it: the kind whose range holds `length`.
void EncodeLength(FdpEncoder& encoder, uint32_t length) {
  if (length <= 256) {
    encoder.IntegralInRange<uint8_t>(0, 4, 0).IntegralInRange<uint16_t>(0, 256, length);
  } else if (length >= 1500 && length <= 1530) {
    encoder.IntegralInRange<uint8_t>(0, 4, 2).IntegralInRange<uint16_t>(1500, 1530, length);
  } else if (length >= 65560 && length <= 65564) {
    encoder.IntegralInRange<uint8_t>(0, 4, 3).IntegralInRange<uint32_t>(65560, 65564, length);
  } else {
    encoder.IntegralInRange<uint8_t>(0, 4, 4).IntegralInRange<uint32_t>(0, 70000, length);
  }
}

struct NetPiece {
  uint32_t length;
  bool writable = true;
};

class NetOps {
 public:
  NetOps(uint8_t features, uint8_t rx_log2, uint8_t tx_log2) {
    encoder_.IntegralInRange<uint8_t>(0, nt::kAllFeatures, features);
    encoder_.IntegralInRange<uint8_t>(0, nt::kMaxSizeLog2, rx_log2);
    encoder_.IntegralInRange<uint8_t>(0, nt::kMaxSizeLog2, tx_log2);
  }
  NetOps& RxChain(const std::vector<NetPiece>& pieces, bool indirect = false) {
    Op(nt::kRxChain).IntegralInRange<uint8_t>(1, nt::kMaxPieces, static_cast<uint8_t>(pieces.size()));
    for (const NetPiece& piece : pieces) {
      const bool small = piece.length <= nt::kMaxSmallPiece;
      encoder_.Bool(piece.writable).Bool(small);
      if (small) {
        encoder_.IntegralInRange<uint16_t>(0, nt::kMaxSmallPiece, static_cast<uint16_t>(piece.length));
      } else {
        encoder_.IntegralInRange<uint32_t>(0, nt::kMaxPiece, piece.length);
      }
    }
    encoder_.Bool(indirect).Integral<uint8_t>(0);
    return *this;
  }
  NetOps& RxBuffers(int count, uint32_t length) {
    for (int i = 0; i < count; ++i) RxChain({{length}});
    return *this;
  }
  // A packet of `length` bytes cut at `cuts`; `writable_tail` bytes device-writable after it.
  NetOps& TxChain(uint32_t length, uint8_t flags, uint8_t gso_type, uint8_t pattern,
                  const std::vector<uint32_t>& cuts = {}, bool indirect = false,
                  int writable_tail = -1) {
    Op(nt::kTxChain);
    EncodeLength(encoder_, length);
    encoder_.Integral<uint8_t>(flags).Integral<uint8_t>(gso_type).Integral<uint8_t>(pattern);
    EncodeCuts(encoder_, cuts, length);
    encoder_.Bool(writable_tail >= 0);
    if (writable_tail >= 0) encoder_.Integral<uint8_t>(static_cast<uint8_t>(writable_tail));
    encoder_.Bool(indirect).Integral<uint8_t>(0);
    return *this;
  }
  NetOps& Peer(uint32_t length, uint8_t flags = 0, uint8_t gso_type = 0, uint8_t pattern = 0) {
    Op(nt::kPeerPacket);
    EncodeLength(encoder_, length);
    encoder_.Integral<uint8_t>(flags).Integral<uint8_t>(gso_type).Integral<uint8_t>(pattern);
    return *this;
  }
  NetOps& ProcessRx() {
    Op(nt::kProcessRx);
    return *this;
  }
  NetOps& ProcessTx() {
    Op(nt::kProcessTx);
    return *this;
  }
  NetOps& WrongIndex(uint8_t index) {
    Op(nt::kWrongIndex).IntegralInRange<uint8_t>(2, 255, index);
    return *this;
  }
  NetOps& BreakRing(bool transmit, bool jump, uint8_t extra = 0) {
    Op(nt::kBreakRing).Bool(transmit).Bool(jump).Integral<uint8_t>(extra);
    return *this;
  }
  NetOps& Reset(uint8_t features) {
    Op(nt::kReset).IntegralInRange<uint8_t>(0, nt::kAllFeatures, features);
    return *this;
  }
  Bytes Finish() const { return encoder_.Finish(); }

 private:
  FdpEncoder& Op(nt::Op op) { return encoder_.IntegralInRange<uint8_t>(0, nt::kLastOp, op); }
  FdpEncoder encoder_;
};

constexpr uint8_t kAllOffloads = nt::kGuestCsum | nt::kGuestTso4 | nt::kGuestTso6;

Seeds NetTxSeeds() {
  return {
      // One packet each way, as Linux lays them out without MRG_RXBUF: the header in a
      // descriptor of its own on transmit, 1526-byte receive buffers.
      {"tx_rx_plain",
       [] {
         NetOps ops(0, 4, 4);
         ops.TxChain(1514, 0, VIRTIO_NET_HDR_GSO_NONE, 0x11, {12}).ProcessTx();
         ops.RxBuffers(2, 1526).Peer(1514, 0, 0, 0x22).Peer(60, 0, 0, 0x23).ProcessRx();
         return ops.Finish();
       }},
      // Every feature: TSO packets of the largest size both ways, across 4 KiB mergeable
      // buffers and through indirect tables, with event idx.
      {"mergeable_tso",
       [] {
         NetOps ops(nt::kAllFeatures, 8, 8);
         ops.RxBuffers(20, 4096);
         ops.Peer(65562, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 1);
         ops.Peer(1514, VIRTIO_NET_HDR_F_DATA_VALID, VIRTIO_NET_HDR_GSO_NONE, 2);
         ops.Peer(9000, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV6, 3).ProcessRx();
         ops.RxChain({{12}, {100}, {0}, {4000}}, /*indirect=*/true).ProcessRx();
         ops.TxChain(65562, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 4,
                     {12, 100, 30000}, /*indirect=*/true);
         ops.TxChain(54, 0, 0, 5).ProcessTx().ProcessTx();
         return ops.Finish();
       }},
      // Packets dropped after a read straight into the guest's buffers (room for the largest
      // packet is held): their bytes stay in the buffers, which the next packet takes.
      {"rx_direct_drops",
       [] {
         NetOps ops(nt::kMergeable | nt::kEventIdx, 5, 4);
         ops.RxBuffers(17, 4096);
         ops.Peer(65563, 0, 0, 20).Peer(20, 0, 0, 21);
         ops.Peer(1514, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_NONE, 22);
         ops.Peer(5000, VIRTIO_NET_HDR_F_DATA_VALID, VIRTIO_NET_HDR_GSO_NONE, 23).ProcessRx();
         ops.ProcessRx();
         return ops.Finish();
       }},
      // Malformed transmit chains between good ones: a writable buffer, under a header,
      // over the largest packet.
      {"tx_malformed",
       [] {
         NetOps ops(0, 3, 3);
         ops.TxChain(60, 0, 0, 6).TxChain(60, 0, 0, 7, {}, false, 16).TxChain(11, 0, 0, 8);
         ops.TxChain(65563, 0, 0, 9, {32768}).TxChain(65562, 0, 0, 10).ProcessTx();
         return ops.Finish();
       }},
      // Packets before buffers: the first waits, the rest stay in the socket; then the
      // guest posts buffers.
      {"rx_waits_for_buffers",
       [] {
         NetOps ops(nt::kMergeable, 4, 4);
         ops.Peer(200, 0, 0, 11).Peer(300, 0, 0, 12).Peer(1514, 0, 0, 13).ProcessRx().ProcessRx();
         ops.RxBuffers(2, 64).ProcessRx().RxBuffers(16, 1526).ProcessRx();
         return ops.Finish();
       }},
      // What the device drops on receive: too long, too short, a header the guest did not
      // negotiate, larger than one buffer without MRG_RXBUF; and receive chains shorter
      // than a header, or with a readable buffer first.
      {"rx_drops",
       [] {
         NetOps ops(0, 4, 4);
         ops.RxChain({{64}}).Peer(100, 0, 0, 14).Peer(40, 0, 0, 15).ProcessRx();
         ops.Peer(65563).Peer(25).Peer(0).Peer(60, VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 16);
         ops.Peer(60, 0, VIRTIO_NET_HDR_GSO_TCPV4, 17).Peer(60, 0, 0, 18).ProcessRx();
         ops.RxChain({{8}}).RxChain({{20, false}, {1526}}).Peer(61, 0, 0, 19).ProcessRx();
         ops.RxChain({{12, false}}).Peer(62, 0, 0, 20).RxBuffers(1, 100).ProcessRx();
         return ops.Finish();
       }},
      // A mergeable packet larger than the whole ring (4 buffers of 16 bytes).
      {"ring_too_small",
       [] {
         NetOps ops(nt::kMergeable, 2, 0);
         ops.RxBuffers(4, 16).Peer(100, 0, 0, 21).Peer(30, 0, 0, 22).ProcessRx();
         ops.TxChain(60, 0, 0, 23).ProcessTx();
         return ops.Finish();
       }},
      // Broken rings on either queue, each followed by the driver's reset with other
      // features, and the wrong queue index.
      {"broken_rings_and_reset",
       [] {
         NetOps ops(kAllOffloads, 3, 3);
         ops.TxChain(60, 0, 0, 24).BreakRing(true, true).ProcessTx();
         ops.Reset(nt::kMergeable).RxBuffers(1, 1526).BreakRing(false, false, 3);
         ops.Peer(60, 0, 0, 25).Peer(70, 0, 0, 26).ProcessRx();
         ops.Reset(nt::kIndirect | nt::kEventIdx).WrongIndex(2).WrongIndex(255);
         ops.RxChain({{1526}}, /*indirect=*/true).Peer(80, 0, 0, 27).ProcessRx();
         ops.TxChain(80, 0, 0, 28, {12}, /*indirect=*/true).ProcessTx();
         // An indirect chain when the feature is off: a broken ring.
         ops.Reset(0).TxChain(80, 0, 0, 29, {}, /*indirect=*/true).ProcessTx();
         return ops.Finish();
       }},
  };
}

const std::map<std::string, Seeds>& AllSeeds() {
  static const auto* seeds = new std::map<std::string, Seeds>{
      {"elf", ElfSeeds()},
      {"bzimage", BzImageSeeds()},
      {"pvh_note", PvhNoteSeeds()},
      {"boot_structures", BootStructuresSeeds()},
      {"serial", SerialSeeds()},
      {"virtqueue", VirtqueueSeeds()},
      {"mmio_transport", MmioTransportSeeds()},
      {"block_request", BlockRequestSeeds()},
      {"net_tx", NetTxSeeds()},
  };
  return *seeds;
}

}  // namespace
}  // namespace vmmd::fuzz

int main(int argc, char** argv) {
  using vmmd::fuzz::AllSeeds;
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s KIND OUT_DIR SEED...\n", argv[0]);
    return 2;
  }
  const auto kind = AllSeeds().find(argv[1]);
  if (kind == AllSeeds().end()) {
    std::fprintf(stderr, "seed_gen: unknown kind %s\n", argv[1]);
    return 2;
  }
  for (int i = 3; i < argc; ++i) {
    const auto seed = kind->second.find(argv[i]);
    if (seed == kind->second.end()) {
      std::fprintf(stderr, "seed_gen: %s has no seed %s\n", argv[1], argv[i]);
      return 2;
    }
    const std::vector<uint8_t> bytes = seed->second();
    const std::string path = std::string(argv[2]) + "/" + argv[i];
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    if (!out) {
      std::fprintf(stderr, "seed_gen: cannot write %s\n", path.c_str());
      return 1;
    }
  }
  return 0;
}
