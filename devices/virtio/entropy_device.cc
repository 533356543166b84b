#include "devices/virtio/entropy_device.h"

#include <errno.h>
#include <sys/random.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "base/status_macros.h"

namespace vmmd::virtio {
namespace {

// Fills `out` from getrandom(2); false if the kernel would not (it only fails for bad
// arguments, or EINTR before any byte, which is retried).
bool FillRandom(absl::Span<uint8_t> out) {
  size_t done = 0;
  while (done < out.size()) {
    ssize_t got = ::getrandom(out.data() + done, out.size() - done, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    done += static_cast<size_t>(got);
  }
  return true;
}

}  // namespace

void EntropyDevice::ReadConfig(uint64_t, absl::Span<uint8_t> data) const {
  std::memset(data.data(), 0, data.size());
}

absl::Status EntropyDevice::ProcessQueue(size_t, Virtqueue& queue, GuestMemory& memory) {
  std::array<uint8_t, 4096> chunk;
  while (true) {
    ASSIGN_OR_RETURN(std::optional<DescriptorChain> chain, queue.Pop(memory));
    if (!chain) return absl::OkStatus();
    const uint32_t wanted = std::min(chain->writable_length(), kMaxBytesPerRequest);
    uint32_t given = 0;
    while (given < wanted) {
      auto piece = absl::MakeSpan(chunk).subspan(0, std::min<size_t>(chunk.size(), wanted - given));
      if (!FillRandom(piece) || !chain->WriteToWritable(memory, given, piece).ok()) break;
      given += static_cast<uint32_t>(piece.size());
    }
    // Bytes the driver gets are exactly those written; a short answer is allowed (5.4.6).
    if (given < wanted) AtomicDeviceCounters::Add(counters_.errors);
    AtomicDeviceCounters::Add(counters_.requests);
    AtomicDeviceCounters::Add(counters_.bytes_read, given);
    RETURN_IF_ERROR(queue.AddUsed(memory, chain->head(), given));
  }
}

DeviceCounters EntropyDevice::counters() const { return counters_.Load(); }

}  // namespace vmmd::virtio
